"""Capture: exchange -> record line (byte-exact), size limit, redaction, queue refusals."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.capture.capturer import Capturer
from sidecar.capture.queue import CaptureQueue
from sidecar.capture.redact import RedactionError, Redactor
from sidecar.common.record import Payload, build_record, parse_record
from sidecar.metrics import SidecarMetrics
from sidecar.settings import Settings, parse_settings

REFERENCE = (
    b'{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
    b'"data":"132,25,113.2","encoding":"CSV"},"endpointOutput":{"observedContentType":'
    b'"text/csv; charset=utf-8","mode":"OUTPUT","data":"0.0107","encoding":"CSV"}},'
    b'"eventMetadata":{"eventId":"6ece5c74-7497-43f1-a263-4833557ffd63",'
    b'"inferenceTime":"2026-11-25T08:24:40Z"},"eventVersion":"0"}\n'
)
ARRIVED = datetime(2026, 11, 25, 8, 24, 40, 250000, tzinfo=UTC).timestamp()


def make(*flags: str) -> tuple[Capturer, CaptureQueue, SidecarMetrics, Settings]:
    settings = parse_settings(list(flags), environ={})
    queue = CaptureQueue(settings.queue_max_bytes)
    metrics = SidecarMetrics()
    return Capturer(settings, queue, metrics), queue, metrics, settings


def outcome(metrics: SidecarMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value("infertap_capture_records_total", {"outcome": name})
    return value or 0.0


def reference_exchange(capturer: Capturer, **overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "arrived": ARRIVED,
        "inference_id": None,
        "path": "/invocations",
        "status": 200,
        "request_type": "text/csv",
        "request_body": b"132,25,113.2",
        "response_type": "text/csv; charset=utf-8",
        "response_body": b"0.0107",
        "upstream_latency": 0.0012345,
        "event_id": "6ece5c74-7497-43f1-a263-4833557ffd63",
    }
    arguments.update(overrides)
    return capturer.build_line(**arguments)  # type: ignore[arg-type]


def stage(capturer: Capturer, **overrides: object) -> None:
    """Stage one exchange as the request path does; by default a small CSV one."""
    arguments: dict[str, object] = {
        "arrived": ARRIVED,
        "inference_id": None,
        "path": "/x",
        "status": 200,
        "request_type": "text/csv",
        "request_body": b"1,2,3",
        "response_type": "text/csv",
        "response_body": b"0.5",
        "upstream_latency": None,
        "truncated": False,
    }
    arguments.update(overrides)
    capturer.stage(**arguments)  # type: ignore[arg-type]


def test_line_is_the_reference_line_plus_metadata_extensions() -> None:
    capturer, *_ = make()
    line = reference_exchange(capturer)
    extensions = b',"path":"/invocations","status":200,"upstreamLatencyMs":1.234}'
    expected = REFERENCE.replace(b'08:24:40Z"}', b'08:24:40Z"' + extensions)
    assert line == expected


def test_extensions_live_only_in_event_metadata() -> None:
    capturer, *_ = make()
    line = reference_exchange(capturer, inference_id="abc-1", truncated=True, status=502)
    record = orjson.loads(line)
    assert list(record) == ["captureData", "eventMetadata", "eventVersion"]
    assert list(record["captureData"]) == ["endpointInput", "endpointOutput"]
    assert record["eventMetadata"] == {
        "eventId": "6ece5c74-7497-43f1-a263-4833557ffd63",
        "inferenceId": "abc-1",
        "inferenceTime": "2026-11-25T08:24:40Z",
        "path": "/invocations",
        "status": 502,
        "upstreamLatencyMs": 1.234,
        "truncated": True,
    }


@pytest.mark.parametrize(
    ("mode", "sides"),
    [("input", ["endpointInput"]), ("output", ["endpointOutput"]), ("both", None)],
)
def test_capture_mode_keeps_only_the_chosen_sides(mode: str, sides: list[str] | None) -> None:
    capturer, *_ = make("--capture-mode", mode)
    record = orjson.loads(reference_exchange(capturer))
    assert list(record["captureData"]) == (sides or ["endpointInput", "endpointOutput"])


def test_non_utf8_body_is_base64_whatever_its_type() -> None:
    capturer, *_ = make()
    body = b"\xff\xfe1,2\x80"
    record = orjson.loads(reference_exchange(capturer, request_body=body))
    captured = record["captureData"]["endpointInput"]
    assert captured["encoding"] == "BASE64"
    assert captured["observedContentType"] == "text/csv"
    assert base64.b64decode(captured["data"]) == body


def test_stage_offers_the_line_to_the_queue_in_its_hour() -> None:
    capturer, queue, metrics, _ = make()
    stage(
        capturer,
        path="/invocations",
        request_type="application/json",
        request_body=b'{"a":1}',
        response_type="application/json",
        response_body=b"[0.5]",
        upstream_latency=0.001,
    )
    [(hour, line)] = queue.take_all()
    assert hour == datetime(2026, 11, 25, 8, tzinfo=UTC)
    record = parse_record(line)
    assert record.endpoint_input is not None and record.endpoint_input.encoding == "JSON"
    assert record.endpoint_input.body() == b'{"a":1}'
    # Queued is not captured yet: the spool writer counts `captured` once the line is on disk.
    assert outcome(metrics, "captured") == 0


def test_oversize_body_is_counted_not_captured() -> None:
    capturer, queue, metrics, _ = make("--capture-mode", "output")
    # The request side is not captured in output mode, so its size does not matter.
    stage(capturer, request_type="", request_body=None, response_body=b"1")
    stage(capturer, request_type="", request_body=b"", response_body=None)
    assert len(queue.take_all()) == 1
    assert outcome(metrics, "too_large") == 1
    assert outcome(metrics, "captured") == 0  # the queued one is the writer's to count


def test_full_queue_refuses_and_counts() -> None:
    capturer, queue, metrics, _ = make("--queue-max-bytes", "600")
    for _ in range(5):
        stage(capturer, request_body=b"1,2,3", response_body=b"0.5")
    assert 1 <= len(queue) < 5
    assert outcome(metrics, "captured") == 0  # queued records are the writer's to count
    assert outcome(metrics, "queue_full") == 5 - len(queue)


def test_redaction_applies_before_the_line_is_built() -> None:
    capturer, *_ = make(
        "--redact-json-fields", "customer.ssn,instances.card", "--redact-csv-columns", "0,2"
    )
    request = b'{"customer":{"ssn":"123-45-6789","age":41},"instances":[{"card":"4111","x":1}]}'
    line = reference_exchange(
        capturer,
        request_type="application/json",
        request_body=request,
        response_body=b"1,2,3\n4,5,6\n",
        response_type="text/csv",
    )
    assert b"123-45-6789" not in line and b"4111" not in line
    record = parse_record(line)
    assert record.endpoint_input is not None and record.endpoint_output is not None
    assert orjson.loads(record.endpoint_input.body()) == {
        "customer": {"ssn": None, "age": 41},
        "instances": [{"card": None, "x": 1}],
    }
    assert record.endpoint_output.body() == b",2,\n,5,\n"


def test_unparsable_body_with_redaction_is_dropped_and_counted() -> None:
    capturer, queue, metrics, _ = make("--redact-json-fields", "secret")
    stage(
        capturer,
        request_type="application/json",
        request_body=b'{"secret": "s3cr3t", broken',
        response_type="application/json",
        response_body=b"{}",
    )
    # Lines (and their redaction) are built when the writer takes the staged exchanges.
    assert queue.take_all() == []
    assert len(queue) == 0
    assert outcome(metrics, "redact_error") == 1


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/csv", b'a,"b,1",c\r\nd,"e\nf",g\r\n', b"a,,c\r\nd,,g\r\n"),
        ("text/csv", b"1,2,3", b"1,,3"),
        ("text/csv", b"1\n\n1,2", b"1\n\n1,"),
        ("application/jsonlines", b'{"k":1,"s":2}\n{"s":3}\n', b'{"k":1,"s":null}\n{"s":null}\n'),
        ("application/json", b'[{"s":1},{"s":2,"t":3}]', b'[{"s":null},{"s":null,"t":3}]'),
        ("application/json", b'{"s":123456789012345678901234567890}', b'{"s":null}'),
        ("application/octet-stream", b'{"s":1}', b'{"s":1}'),
    ],
)
def test_redactor_shapes(content_type: str, body: bytes, expected: bytes) -> None:
    redactor = Redactor(json_fields=["s"], csv_columns=[1])
    assert redactor.apply(content_type, body) == expected


def test_redactor_index_and_wildcard_paths() -> None:
    redactor = Redactor(json_fields=["rows.0", "meta.*.token"])
    body = b'{"rows":[1,2],"meta":{"a":{"token":"x"},"b":{"token":"y","k":1}}}'
    assert orjson.loads(redactor.apply("application/json", body)) == {
        "rows": [None, 2],
        "meta": {"a": {"token": None}, "b": {"token": None, "k": 1}},
    }
    with pytest.raises(RedactionError):
        Redactor(csv_columns=[0]).apply("text/csv", b"\xff,1")


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["text/csv", "application/json", "application/octet-stream", "", "image/png"]
    ),
    inference_id=st.none() | st.text(min_size=1, max_size=20),
)
def test_round_trip_of_any_body(body: bytes, content_type: str, inference_id: str | None) -> None:
    capturer, *_ = make()
    line = reference_exchange(
        capturer,
        request_type=content_type,
        request_body=body,
        response_type=content_type,
        response_body=body[::-1],
        inference_id=inference_id,
    )
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = parse_record(line)
    assert record.endpoint_input is not None and record.endpoint_output is not None
    assert record.endpoint_input.body() == body
    assert record.endpoint_output.body() == body[::-1]
    assert record.endpoint_input.content_type == content_type
    assert record.inference_id == inference_id


@settings(max_examples=200, deadline=None)
@given(
    request_body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
    response_body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
    request_type=st.sampled_from(
        ["text/csv", "Text/CSV; charset=utf-8", "application/json", "image/png", "", 'a"\\b']
    ),
    response_type=st.sampled_from(["application/jsonlines", "text/csv", "x/\u00e9\n"]),
    inference_id=st.none() | st.text(min_size=1, max_size=20),
    path=st.text(max_size=30),
    status=st.integers(100, 599),
    latency=st.none() | st.floats(0, 100, allow_nan=False),
    truncated=st.booleans(),
    arrived=st.floats(0, 4102444800, allow_nan=False),
    mode=st.sampled_from(["input", "output", "both"]),
)
def test_line_is_byte_for_byte_the_shared_record_builder(
    request_body: bytes,
    response_body: bytes,
    request_type: str,
    response_type: str,
    inference_id: str | None,
    path: str,
    status: int,
    latency: float | None,
    truncated: bool,
    arrived: float,
    mode: str,
) -> None:
    """The capturer's own serializer writes exactly what `record.build_record` writes."""
    capturer, *_ = make("--capture-mode", mode)
    event_id = "6ece5c74-7497-43f1-a263-4833557ffd63"
    line = capturer.build_line(
        arrived=arrived,
        inference_id=inference_id,
        path=path,
        status=status,
        request_type=request_type,
        request_body=request_body,
        response_type=response_type,
        response_body=response_body,
        upstream_latency=latency,
        truncated=truncated,
        event_id=event_id,
    )
    extensions: dict[str, object] = {"path": path, "status": status}
    if latency is not None:
        extensions["upstreamLatencyMs"] = round(latency * 1000.0, 3)
    if truncated:
        extensions["truncated"] = True
    expected = build_record(
        inference_time=datetime.fromtimestamp(arrived, UTC),
        request=Payload(request_type, request_body) if mode != "output" else None,
        response=Payload(response_type, response_body) if mode != "input" else None,
        inference_id=inference_id,
        event_id=event_id,
        extensions=extensions,
    )
    assert line == expected


def test_event_ids_are_distinct_random_uuid4s() -> None:
    capturer, queue, _, _ = make()
    for _ in range(600):  # more than one batch of ids
        stage(capturer, request_body=b"1", response_body=b"2")
    ids = [parse_record(line).event_id for _, line in queue.take_all()]
    assert len(set(ids)) == 600
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # Every hex digit of the random part is used: no position is stuck.
    assert {text[0] for text in ids} == set("0123456789abcdef")
    assert {text[19] for text in ids} == set("89ab")


def test_staged_exchanges_are_built_a_slice_at_a_time_in_order() -> None:
    capturer, queue, _, _ = make()
    for n in range(300):
        stage(capturer, inference_id=f"id-{n}", request_body=b"1,2", response_body=b"3")
    staged_bytes = queue.size_bytes
    assert len(queue) == 300
    assert queue.build(128) == 172
    assert len(queue) == 300  # built lines still wait for the writer
    lines = [line for _, line in queue.take_all()]
    assert [parse_record(line).inference_id for line in lines] == [f"id-{n}" for n in range(300)]
    assert sum(len(line) for line in lines) <= staged_bytes  # the estimate errs on the safe side
    assert (len(queue), queue.size_bytes) == (0, 0)
