"""Capture edge cases through a real sidecar: bad header bytes, oversized streams, redaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson
import pytest

from sidecar.capture.redact import Redactor
from tests.conftest import wait_until
from tests.sidecar.conftest import SidecarProcess, StartSidecar, Upstream, launch_sidecar
from tests.sidecar.proxy.test_proxy import records_with, request

OUTCOMES = ("captured", "not_sampled", "too_large", "queue_full", "encode_error", "redact_error")


@pytest.fixture(scope="module")
def small_limit(
    upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarProcess]:
    """Every method captured, a 1 KiB capture limit, JSON fields `password` redacted."""
    process = launch_sidecar(
        upstream.url,
        tmp_path_factory.mktemp("hardening"),
        capture_methods="*",
        max_capture_bytes="1KiB",
        redact_json_fields="password",
    )
    yield process
    process.kill()


def outcomes(sidecar: SidecarProcess) -> dict[str, float]:
    """`infertap_capture_records_total` by outcome (0 for an outcome not exported)."""
    metrics = sidecar.metrics()
    return {
        o: metrics.get(f'infertap_capture_records_total{{outcome="{o}"}}', 0.0) for o in OUTCOMES
    }


def test_undecodable_header_bytes_never_lose_other_records(start_sidecar: StartSidecar) -> None:
    """A header value with a byte that is not UTF-8 reaches the sidecar as a lone surrogate;
    its record is written with U+FFFD in its place and every other record still goes out."""
    sidecar = start_sidecar()
    good = [f"good-{n}" for n in range(60)]
    for n, inference_id in enumerate(good):
        headers = {"Content-Type": "text/csv", "X-Inference-Id": inference_id}
        assert request(sidecar.url, "POST", "/echo", b"1,2", headers)[0] == 200
        if n % 20 == 10:
            # http.client sends str header values as Latin-1: "\xff" is the byte 0xff.
            bad = {"Content-Type": "text/csv", "X-Inference-Id": f"bad-{n}-\xff"}
            assert request(sidecar.url, "POST", "/echo", b"3,4", bad)[0] == 200
            bad_type = {"Content-Type": "text/csv\xff", "X-Inference-Id": f"bad-type-{n}"}
            assert request(sidecar.url, "POST", "/echo", b"5,6", bad_type)[0] == 200
    sent = len(good) + 6
    wait_until(
        lambda: sum(outcomes(sidecar).values()) >= sent, timeout=15, what="every exchange counted"
    )
    counts = outcomes(sidecar)
    assert sum(counts.values()) == sent
    assert counts["captured"] + counts["encode_error"] == sent
    records = sidecar.wait_for_records(int(counts["captured"]))
    ids = {r["eventMetadata"].get("inferenceId") for r in records}
    assert set(good) <= ids
    assert {f"bad-{n}-\ufffd" for n in (10, 30, 50)} <= ids
    bad_types = [r for r in records if r["eventMetadata"]["inferenceId"].startswith("bad-type-")]
    assert [r["captureData"]["endpointInput"]["observedContentType"] for r in bad_types] == [
        "text/csv\ufffd"
    ] * 3


@pytest.mark.parametrize("path", ["/binary?size=1500000", "/stream?chunks=400&delay=0"])
def test_oversized_streamed_response_is_too_large_not_an_empty_record(
    small_limit: SidecarProcess, path: str
) -> None:
    before = outcomes(small_limit)
    inference_id, marker = uuid.uuid4().hex, uuid.uuid4().hex
    status, _, body = request(
        small_limit.url, "GET", path, headers={"X-Inference-Id": inference_id}
    )
    assert status == 200 and len(body) > 1024
    request(small_limit.url, "POST", "/echo", b"{}", {"X-Inference-Id": marker})
    records_with(small_limit, marker)
    after = outcomes(small_limit)
    assert after["too_large"] == before["too_large"] + 1
    assert after["captured"] == before["captured"] + 1  # the marker only
    assert not [
        r for r in small_limit.records() if r["eventMetadata"].get("inferenceId") == inference_id
    ]


@pytest.mark.parametrize(
    "content_type", ["application/vnd.api+json", "application/problem+json; charset=utf-8"]
)
def test_structured_json_types_are_redacted_and_stored_as_json(
    small_limit: SidecarProcess, content_type: str
) -> None:
    inference_id = uuid.uuid4().hex
    body = b'{"user":"ann","password":"hunter2"}'
    headers = {"Content-Type": content_type, "X-Inference-Id": inference_id}
    assert request(small_limit.url, "POST", "/echo", body, headers)[0] == 200
    [record] = records_with(small_limit, inference_id)
    for side in ("endpointInput", "endpointOutput"):
        captured = record["captureData"][side]
        assert captured["encoding"] == "JSON"
        assert orjson.loads(captured["data"]) == {"user": "ann", "password": None}
    assert not [p for p in small_limit.capture_files() if b"hunter2" in p.read_bytes()]


def test_wildcard_matches_every_list_element() -> None:
    redactor = Redactor(json_fields=["items.*.password", "rows.*"])
    body = b'{"items":[{"password":"a","k":1},{"password":"b"}],"rows":[1,[2]]}'
    assert orjson.loads(redactor.apply("application/json", body)) == {
        "items": [{"password": None, "k": 1}, {"password": None}],
        "rows": [None, None],
    }
