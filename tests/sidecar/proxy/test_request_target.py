"""Hostile request targets and bodies: every request goes to --upstream only, byte for byte,
answered with a defined JSON status and counted; nothing secret reaches records or logs."""

from __future__ import annotations

import base64
import gzip
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.sidecar.conftest import SidecarProcess, StartSidecar
from tests.sidecar.raw_http import exchange
from tests.sidecar.raw_upstream import RawUpstream, raw_upstream


@pytest.fixture
def recorder() -> Iterator[RawUpstream]:
    """The upstream: records the bytes it receives."""
    with raw_upstream() as server:
        yield server


@pytest.fixture
def decoy() -> Iterator[RawUpstream]:
    """Another host the proxy must never connect to."""
    with raw_upstream() as server:
        yield server


@pytest.fixture
def proxied(start_sidecar: StartSidecar, recorder: RawUpstream) -> SidecarProcess:
    return start_sidecar(upstream=recorder.url, capture_methods="*")


def record_of(sidecar: SidecarProcess, inference_id: str) -> dict[str, Any]:
    """The one delivered record with this inference id (waits for it)."""

    def found() -> list[dict[str, Any]]:
        return [
            r for r in sidecar.records() if r["eventMetadata"].get("inferenceId") == inference_id
        ]

    wait_until(lambda: found(), timeout=15, what=f"record {inference_id}")
    [record] = found()
    return record


def _upstream_lines(recorder: RawUpstream) -> list[str]:
    return [r.line for r in recorder.requests if not r.line.startswith("GET /ping ")]


@pytest.mark.parametrize("target", ["@127.0.0.1:{port}", "127.0.0.1:{port}", "127.0.0.1:22"])
def test_connect_is_refused_with_405_and_reaches_no_host(
    proxied: SidecarProcess, recorder: RawUpstream, decoy: RawUpstream, target: str
) -> None:
    target = target.format(port=decoy.port)
    before = proxied.metric("infertap_requests_total", code="405")
    response = exchange(proxied.port, f"CONNECT {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert response.status == 405
    assert response.headers["allow"]
    assert "CONNECT" not in response.headers["allow"]
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "method_not_allowed"
    assert proxied.metric("infertap_requests_total", code="405") == before + 1
    assert decoy.connections == 0
    assert _upstream_lines(recorder) == []


def test_absolute_form_targets_go_to_the_upstream_path_only(
    proxied: SidecarProcess, recorder: RawUpstream, decoy: RawUpstream
) -> None:
    other = f"http://127.0.0.1:{decoy.port}"
    plain = exchange(proxied.port, f"GET {other}/x/y?q=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    chunked = exchange(
        proxied.port,
        f"POST {other}/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n".encode(),
    )
    user_info = exchange(
        proxied.port,
        f"POST http://u:pw@127.0.0.1:{decoy.port} HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 2\r\n\r\nhi".encode(),
    )
    assert (plain.status, chunked.status, user_info.status) == (200, 200, 200)
    assert decoy.connections == 0
    assert _upstream_lines(recorder) == [
        "GET /x/y?q=1 HTTP/1.1",
        "POST /chunked HTTP/1.1",
        "POST / HTTP/1.1",
    ]
    assert [r.body for r in recorder.requests[-2:]] == [b"abc", b"hi"]
    assert all(r.header("Authorization") is None for r in recorder.requests)
    assert proxied.metric("infertap_requests_total", code="500") == 0


@pytest.mark.parametrize("target", ["@127.0.0.1:1/x", "*", "x", "ftp://127.0.0.1/x", "mailto:a@b"])
def test_other_target_forms_are_a_400(
    proxied: SidecarProcess, recorder: RawUpstream, target: str
) -> None:
    before = proxied.metric("infertap_requests_total", code="400")
    response = exchange(proxied.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert response.status == 400
    # The HTTP parser refuses some forms itself, the proxy the others.
    assert response.json()["error"] in ("bad_request", "bad_request_target")
    assert proxied.metric("infertap_requests_total", code="400") == before + 1
    assert _upstream_lines(recorder) == []


def test_unknown_expectation_is_a_counted_json_417(proxied: SidecarProcess) -> None:
    before = proxied.metric("infertap_requests_total", code="417")
    response = exchange(
        proxied.port, b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 0\r\n\r\n"
    )
    assert response.status == 417
    assert response.json()["error"] == "expectation_failed"
    assert proxied.metric("infertap_requests_total", code="417") == before + 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_compressed_request_body_is_forwarded_byte_for_byte(
    proxied: SidecarProcess, recorder: RawUpstream, chunked: bool
) -> None:
    compressed = gzip.compress(b'{"instances": [[1, 2, 3]]}' * 50, mtime=0)
    inference_id = uuid.uuid4().hex
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Encoding: gzip\r\nX-Inference-Id: {inference_id}\r\n"
    )
    if chunked:
        data = head.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
        data += f"{len(compressed):x}\r\n".encode() + compressed + b"\r\n0\r\n\r\n"
    else:
        data = head.encode() + f"Content-Length: {len(compressed)}\r\n\r\n".encode() + compressed
    assert exchange(proxied.port, data).status == 200
    [received] = [r for r in recorder.requests if r.header("X-Inference-Id") == inference_id]
    assert received.body == compressed
    assert received.header("Content-Encoding") == "gzip"
    captured = record_of(proxied, inference_id)["captureData"]["endpointInput"]
    assert captured["encoding"] == "BASE64"
    assert base64.b64decode(captured["data"]) == compressed


def test_user_info_and_query_never_reach_the_record_path(
    proxied: SidecarProcess, recorder: RawUpstream
) -> None:
    inference_id = uuid.uuid4().hex
    response = exchange(
        proxied.port,
        "POST http://user:HUNTER2SECRET@model.example/invocations?token=QUERYSECRET HTTP/1.1\r\n"
        f"Host: model.example\r\nX-Inference-Id: {inference_id}\r\nContent-Type: text/csv\r\n"
        "Content-Length: 5\r\n\r\n1,2,3".encode(),
    )
    assert response.status == 200
    assert recorder.requests[-1].line == "POST /invocations?token=QUERYSECRET HTTP/1.1"
    assert record_of(proxied, inference_id)["eventMetadata"]["path"] == "/invocations"
    files = b"".join(path.read_bytes() for path in proxied.capture_files())
    assert b"HUNTER2SECRET" not in files and b"QUERYSECRET" not in files
    assert "HUNTER2SECRET" not in proxied.logs()
