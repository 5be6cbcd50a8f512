"""Properties of the record encoder, the decoder and redaction, over generated inputs."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.capture.redact import RedactionError, Redactor
from sidecar.common.exchange import BOTH_SIDES, Exchange
from sidecar.common.record import (
    Encoding,
    RecordEncoder,
    RecordFormat,
    captured_payload,
    parse_record,
)

# Any code point, lone surrogates included (what undecodable header bytes become).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
CONTENT_TYPES = ANY_TEXT | st.sampled_from(
    ["text/csv", "application/json", "application/x+json; q=1", "image/png", "TEXT/CSV"]
)
BODIES = st.binary(max_size=300) | st.text(max_size=200).map(str.encode)


def is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def written_as(original: str, read: str) -> bool:
    """Valid strings come back unchanged; others come back as valid Unicode."""
    return read == original if is_valid_unicode(original) else is_valid_unicode(read)


@settings(max_examples=300, deadline=None)
@given(
    request_body=BODIES,
    response_body=BODIES,
    request_type=CONTENT_TYPES,
    response_type=CONTENT_TYPES,
    inference_id=st.none() | ANY_TEXT,
    path=ANY_TEXT,
    status=st.integers(100, 599),
    latency=st.none() | st.floats(0, 100, allow_nan=False),
    arrived=st.floats(0, 4102444800, allow_nan=False),
    truncated=st.booleans(),
)
def test_every_exchange_round_trips_or_is_counted(
    request_body: bytes,
    response_body: bytes,
    request_type: str,
    response_type: str,
    inference_id: str | None,
    path: str,
    status: int,
    latency: float | None,
    arrived: float,
    truncated: bool,
) -> None:
    exchange = Exchange(
        arrived,
        path,
        inference_id=inference_id,
        capture=BOTH_SIDES,
        request_type=request_type,
        request_body=request_body,
        status=status,
        response_type=response_type,
        response_body=response_body,
        upstream_latency=latency,
        truncated=truncated,
    )
    batch = RecordEncoder().encode([exchange])
    assert len(batch) + batch.failed + batch.rejected == 1
    if batch.failed:
        return
    [hour] = batch.hours
    [line] = hour.lines()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = parse_record(line)
    assert hour.hour.timestamp() <= arrived < hour.hour.timestamp() + 3600
    for payload, content_type, body in (
        (record.endpoint_input, request_type, request_body),
        (record.endpoint_output, response_type, response_body),
    ):
        assert payload is not None and payload.body() == body
        assert written_as(content_type, payload.content_type)
        assert payload.encoding in {e.value for e in Encoding}
    assert (record.inference_id is None) == (inference_id is None)
    if inference_id is not None and record.inference_id is not None:
        assert written_as(inference_id, record.inference_id)
    assert written_as(path, record.metadata["path"])
    assert record.metadata["status"] == status
    assert record.metadata.get("truncated", False) == truncated


@settings(max_examples=100, deadline=None)
@given(bodies=st.lists(BODIES, min_size=1, max_size=20), bad=st.integers(0, 19))
def test_one_unencodable_exchange_never_takes_others(bodies: list[bytes], bad: int) -> None:
    def broken(content_type: str, body: bytes) -> bytes:
        if body == b"\x00broken":
            raise RuntimeError("a filter bug")
        return body

    exchanges = [Exchange(1.0e9, "/p", capture=BOTH_SIDES, request_body=b) for b in bodies]
    exchanges.insert(
        bad % (len(bodies) + 1),
        Exchange(1.0e9, "/p", capture=BOTH_SIDES, request_body=b"\x00broken"),
    )
    batch = RecordEncoder(RecordFormat(), broken).encode(exchanges)
    assert (batch.failed, len(batch)) == (1, len(bodies))
    lines = [line for hour in batch.hours for line in hour.lines()]
    written = [
        captured_payload(orjson.loads(line)["captureData"]["endpointInput"]) for line in lines
    ]
    assert [payload.body() for payload in written if payload is not None] == bodies


KEYS = st.text(st.characters(codec="utf-8", exclude_characters="."), min_size=1, max_size=4)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
SECRET = "SECRET-\u2603-VALUE"


def plant(document: Any, path: list[str]) -> dict[str, Any]:
    """`document` with SECRET at `path` (a dict at each step, made where missing)."""
    root: dict[str, Any] = document if isinstance(document, dict) else {}
    node = root
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = SECRET
    return root


@settings(max_examples=300, deadline=None)
@given(
    document=JSON_VALUES,
    path=st.lists(KEYS, min_size=1, max_size=4),
    wildcards=st.lists(st.booleans(), min_size=4, max_size=4),
    others=st.lists(st.lists(KEYS | st.just("*") | st.sampled_from("019"), min_size=1, max_size=3)),
    content_type=st.sampled_from(["application/json", "application/vnd.x+json"]),
)
def test_redacted_fields_are_gone(
    document: Any,
    path: list[str],
    wildcards: list[bool],
    others: list[list[str]],
    content_type: str,
) -> None:
    planted = plant(document, path)
    pattern = ["*" if wild else key for key, wild in zip(path, wildcards, strict=False)]
    fields = [".".join(pattern), *(".".join(other) for other in others)]
    redacted = Redactor(json_fields=fields).apply(content_type, orjson.dumps(planted))
    assert SECRET.encode() not in redacted
    orjson.loads(redacted)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200) | JSON_VALUES.map(orjson.dumps),
    fields=st.lists(st.text(max_size=8), max_size=3),
    columns=st.lists(st.integers(0, 5), max_size=3),
    content_type=st.sampled_from(
        ["application/json", "application/jsonlines", "text/csv", "application/a+json", "x/y"]
    ),
)
def test_redaction_raises_nothing_but_redaction_error(
    body: bytes, fields: list[str], columns: list[int], content_type: str
) -> None:
    with contextlib.suppress(RedactionError):
        Redactor(json_fields=fields, csv_columns=columns).apply(content_type, body)
