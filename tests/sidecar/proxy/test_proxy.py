"""The proxy end to end: a real upstream, `python -m sidecar`, real HTTP clients.

Pass-through must be byte-exact (bodies, headers, query strings, streams chunk by chunk), capture
must never change what the client sees, and failures must be answered and counted.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import free_port, port_open, wait_until
from tests.sidecar.conftest import (
    SidecarProcess,
    StartSidecar,
    Upstream,
    http_get,
    launch_sidecar,
)

HOP_BY_HOP = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}


@pytest.fixture(scope="module")
def sidecar(
    upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarProcess]:
    """One sidecar for the pass-through tests: every method captured, 64 KiB capture limit."""
    process = launch_sidecar(
        upstream.url,
        tmp_path_factory.mktemp("proxy"),
        capture_methods="*",
        max_capture_bytes="64KiB",
    )
    yield process
    process.kill()


def request(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, raw header list in order, body) over a fresh connection."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP | {"date"}]


def records_with(
    sidecar: SidecarProcess, inference_id: str, count: int = 1
) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [
            r for r in sidecar.records() if r["eventMetadata"].get("inferenceId") == inference_id
        ]

    wait_until(lambda: len(found()) >= count, timeout=15, what=f"record {inference_id}")
    return found()


@pytest.mark.parametrize(
    "path",
    ["/csv", "/json", "/binary?size=3000", "/binary?size=200000", "/binary?size=1500000", "/gzip"],
)
def test_responses_pass_byte_exact(sidecar: SidecarProcess, upstream: Upstream, path: str) -> None:
    direct = request(upstream.url, "GET", path)
    proxied = request(sidecar.url, "GET", path)
    assert proxied[0] == direct[0] == 200
    assert proxied[2] == direct[2]
    assert end_to_end(proxied[1]) == end_to_end(direct[1])


def test_head_keeps_the_upstream_content_length(sidecar: SidecarProcess) -> None:
    status, headers, body = request(sidecar.url, "HEAD", "/binary?size=3000")
    assert status == 200 and body == b""
    assert dict(headers)["Content-Length"] == "3000"


async def test_upstream_dying_mid_stream_cuts_the_client_and_marks_the_record(
    sidecar: SidecarProcess,
) -> None:
    inference_id = uuid.uuid4().hex
    before = sum(
        v for k, v in sidecar.metrics().items() if k.startswith("infertap_upstream_errors_total")
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sidecar.url}/abort", data=b"{}", headers={"X-Inference-Id": inference_id}
        ) as response,
    ):
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    [record] = records_with(sidecar, inference_id)
    assert record["eventMetadata"]["truncated"] is True
    assert record["captureData"]["endpointOutput"]["data"] == '{"token": 0}\n'
    after = sum(
        v for k, v in sidecar.metrics().items() if k.startswith("infertap_upstream_errors_total")
    )
    assert after == before + 1


def test_gzip_body_is_not_decompressed(sidecar: SidecarProcess) -> None:
    status, headers, body = request(
        sidecar.url, "GET", "/gzip", headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200
    assert ("Content-Encoding", "gzip") in headers
    assert body.startswith(b"\x1f\x8b")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_every_method_path_and_raw_query_reach_the_upstream(
    sidecar: SidecarProcess, method: str
) -> None:
    path = "/echo/a%20b/c%2Fd?x=1&y=%2F%3F&flag&z=%E2%9C%93&x=2"
    body = None if method in ("GET", "HEAD", "OPTIONS") else b"\x00\x01payload\xff"
    status, headers, received = request(
        sidecar.url, method, path, body=body, headers={"Content-Type": "application/x-test"}
    )
    found = dict(headers)
    assert status == 200
    assert found["X-Received-Method"] == method
    assert found["X-Received-Path"] == path
    assert received == (b"" if method == "HEAD" or body is None else body)


def test_request_headers_forwarded_and_hop_by_hop_removed(
    sidecar: SidecarProcess, upstream: Upstream
) -> None:
    host, port = sidecar.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/echo", skip_host=True, skip_accept_encoding=True)
    for name, value in [
        ("Host", "public.example:443"),
        ("Authorization", "Bearer forwarded-to-model"),
        ("X-Custom", "one"),
        ("X-Custom", "two"),
        ("X-MiXeD", "Keep  Spacing"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "hop value"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
        ("Proxy-Connection", "keep-alive"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("Content-Type", "text/csv"),
        ("Content-Length", "3"),
    ]:
        connection.putheader(name, value)
    connection.endheaders(b"1,2")
    response = connection.getresponse()
    assert response.read() == b"1,2"
    received: list[list[str]] = json.loads(response.getheader("X-Received-Headers") or "[]")
    connection.close()
    names = [name.lower() for name, _ in received]
    for hop in ("x-hop", "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection"):
        assert hop not in names
    assert ["Authorization", "Bearer forwarded-to-model"] in received
    assert [v for k, v in received if k == "X-Custom"] == ["one", "two"]
    assert ["X-MiXeD", "Keep  Spacing"] in received
    values = {k.lower(): v for k, v in received}
    assert values["host"] == f"127.0.0.1:{upstream.port}"
    assert values["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert values["x-forwarded-proto"] == "http"
    assert values["x-forwarded-host"] == "public.example:443"
    assert values["content-length"] == "3"
    for invented in ("user-agent", "accept", "accept-encoding"):
        assert invented not in values


def test_response_headers_byte_exact_without_hop_by_hop(sidecar: SidecarProcess) -> None:
    status, headers, body = request(sidecar.url, "GET", "/headers")
    assert status == 200 and body == b"{}"
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1; Path=/", "b=2; Path=/"]
    assert [v for k, v in headers if k == "X-Repeated"] == ["one", "two"]
    assert ("X-MiXeD-Case", "Value With  Spaces") in headers
    names = {k.lower() for k, _ in headers}
    assert not names & {"x-hop-custom", "keep-alive", "proxy-authenticate", "upgrade"}


async def test_stream_reaches_the_client_chunk_by_chunk(
    sidecar: SidecarProcess, upstream: Upstream
) -> None:
    token = uuid.uuid4().hex
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(
            f"{sidecar.url}/stream?hold={token}&chunks=4",
            headers={"X-Inference-Id": token},
        ) as response,
    ):
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers.get("Transfer-Encoding") == "chunked"
        first = b""
        while b"\n\n" not in first:
            first += await response.content.readany()
        # The upstream is holding the rest until released: the first event arrived alone.
        assert first == b"data: 0\n\n"
        async with session.post(f"{upstream.url}/release/{token}") as released:
            assert released.status == 200
        rest = await response.read()
    expected = b"".join(f"data: {i}\n\n".encode() for i in range(4))
    assert first + rest == expected
    [record] = records_with(sidecar, token)
    output = record["captureData"]["endpointOutput"]
    assert output["encoding"] == "BASE64"
    assert base64.b64decode(output["data"]) == expected


async def test_chunked_responses_and_requests_pass_whole(sidecar: SidecarProcess) -> None:
    async def body() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"{i},{i * 2}\n".encode()

    inference_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sidecar.url}/chunked?chunks=6") as response:
            lines = (await response.read()).splitlines()
            assert [json.loads(line)["token"] for line in lines] == list(range(6))
        async with session.post(
            f"{sidecar.url}/echo",
            data=body(),
            headers={"Content-Type": "text/csv", "X-Inference-Id": inference_id},
        ) as response:
            echoed = await response.read()
    expected = b"".join(f"{i},{i * 2}\n".encode() for i in range(5))
    assert echoed == expected
    [record] = records_with(sidecar, inference_id)
    assert record["captureData"]["endpointInput"]["data"] == expected.decode()
    assert record["captureData"]["endpointOutput"]["data"] == expected.decode()


def test_record_structure_and_partition(sidecar: SidecarProcess) -> None:
    inference_id = "order-" + uuid.uuid4().hex
    status, _, body = request(
        sidecar.url,
        "POST",
        "/invocations?variant=ignored",
        body=b"132,25,113.2",
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": inference_id},
    )
    assert status == 200
    [record] = records_with(sidecar, inference_id)
    assert record["captureData"] == {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": "132,25,113.2",
            "encoding": "CSV",
        },
        "endpointOutput": {
            "observedContentType": "text/csv; charset=utf-8",
            "mode": "OUTPUT",
            "data": body.decode(),
            "encoding": "CSV",
        },
    }
    metadata = record["eventMetadata"]
    assert list(metadata)[:3] == ["eventId", "inferenceId", "inferenceTime"]
    assert uuid.UUID(metadata["eventId"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["inferenceTime"])
    assert metadata["path"] == "/invocations"
    assert metadata["status"] == 200
    assert metadata["upstreamLatencyMs"] >= 0
    assert record["eventVersion"] == "0"
    hour = metadata["inferenceTime"][:13].replace("-", "/").replace("T", "/")
    files = [p for p in sidecar.capture_files() if inference_id.encode() in p.read_bytes()]
    [path] = files
    relative = path.relative_to(sidecar.destination).as_posix()
    assert re.fullmatch(
        rf"test-endpoint/AllTraffic/{hour}/\d\d-\d\d-\d{{3}}-[0-9a-f-]{{36}}\.jsonl", relative
    )


def test_non_utf8_bodies_are_base64(sidecar: SidecarProcess) -> None:
    inference_id = uuid.uuid4().hex
    payload = b"1,\xff\xfe,\x80"
    status, _, echoed = request(
        sidecar.url, "POST", "/echo", body=payload,
        headers={"Content-Type": "text/csv", "X-Inference-Id": inference_id},
    )  # fmt: skip
    assert status == 200 and echoed == payload
    [record] = records_with(sidecar, inference_id)
    for side in ("endpointInput", "endpointOutput"):
        captured = record["captureData"][side]
        assert captured["encoding"] == "BASE64"
        assert base64.b64decode(captured["data"]) == payload


@pytest.mark.parametrize(
    ("size", "side"), [(100_000, "request"), (1_500_000, "request"), (100_000, "response")]
)
def test_oversize_exchange_forwarded_whole_but_not_captured(
    sidecar: SidecarProcess, size: int, side: str
) -> None:
    before = sidecar.metric("infertap_capture_records_total", outcome="too_large")
    inference_id = uuid.uuid4().hex
    marker_id = uuid.uuid4().hex
    if side == "request":
        payload = bytes(range(256)) * (size // 256)
        status, _, echoed = request(
            sidecar.url, "POST", "/echo", body=payload,
            headers={"Content-Type": "application/octet-stream", "X-Inference-Id": inference_id},
        )  # fmt: skip
        assert status == 200 and echoed == payload
    else:
        status, _, body = request(
            sidecar.url, "GET", f"/binary?size={size}", headers={"X-Inference-Id": inference_id}
        )
        assert status == 200 and len(body) == size
    assert sidecar.metric("infertap_capture_records_total", outcome="too_large") == before + 1
    # A later small exchange is delivered; the oversize one never is.
    request(sidecar.url, "POST", "/echo", body=b"{}", headers={"X-Inference-Id": marker_id})
    records_with(sidecar, marker_id)
    assert not [
        r for r in sidecar.records() if r["eventMetadata"].get("inferenceId") == inference_id
    ]


def test_credentials_never_written_to_files_or_logs(
    start_sidecar: StartSidecar, tmp_path: Path
) -> None:
    secrets = {
        "Authorization": "Bearer SECRET-authorization-7f3a",
        "Proxy-Authorization": "Basic SECRET-proxy-91bc",
        "Cookie": "session=SECRET-cookie-44de",
        "X-Api-Key": "SECRET-apikey-0a1b",
        "X-Amz-Security-Token": "SECRET-token-c2d3",
    }
    sidecar = start_sidecar(log_level="debug", capture_methods="*")
    for path in ("/echo", "/invocations", "/headers"):
        method = "GET" if path == "/headers" else "POST"
        body = None if method == "GET" else b"1,2"
        status, _, _ = request(
            sidecar.url, method, path, body=body, headers={"Content-Type": "text/csv", **secrets}
        )
        assert status == 200
    sidecar.wait_for_records(3)
    sidecar.terminate()
    assert sidecar.wait() == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in written) and any(
        p.name == "sidecar.log" for p in written
    )
    for written_file in written:
        content = written_file.read_bytes()
        assert b"SECRET-" not in content, written_file
        # Response credentials (Set-Cookie from /headers) are not written either.
        assert b"a=1; Path=/" not in content, written_file


def test_upstream_refused_is_502_json_counted_and_captured(start_sidecar: StartSidecar) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    sidecar = start_sidecar(upstream=dead)
    inference_id = uuid.uuid4().hex
    status, headers, body = request(
        sidecar.url, "POST", "/invocations", body=b"1,2",
        headers={"Content-Type": "text/csv", "X-Inference-Id": inference_id},
    )  # fmt: skip
    assert status == 502
    assert dict(headers)["Content-Type"] == "application/json"
    error = json.loads(body)
    assert error["error"] == "upstream_unavailable" and error["reason"] == "refused"
    assert error["detail"]
    assert sidecar.metric("infertap_upstream_errors_total", reason="refused") == 1
    assert sidecar.metric("infertap_requests_total", code="502") == 1
    [record] = records_with(sidecar, inference_id)
    assert record["eventMetadata"]["status"] == 502
    assert json.loads(record["captureData"]["endpointOutput"]["data"]) == error
    ready_status, ready_body = http_get(sidecar.admin_url + "/readyz")
    assert ready_status == 503 and "health check failed" in json.loads(ready_body)["reason"]
    assert http_get(sidecar.admin_url + "/healthz")[0] == 200


def test_upstream_timeout_is_504_json_and_counted(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar(upstream_timeout=0.3, upstream_health_path="/status/500")
    started = time.monotonic()
    status, _, body = request(sidecar.url, "POST", "/slow?seconds=3", body=b"x")
    assert time.monotonic() - started < 2.5
    assert status == 504
    assert json.loads(body)["error"] == "upstream_timeout"
    assert sidecar.metric("infertap_upstream_errors_total", reason="timeout") == 1
    assert sidecar.metric("infertap_requests_total", code="504") == 1
    ready_status, ready_body = http_get(sidecar.admin_url + "/readyz")
    assert ready_status == 503
    assert json.loads(ready_body)["reason"] == "upstream /status/500 answered 500"


def test_full_queue_drops_are_counted_and_never_block(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar(queue_max_bytes="100B")
    results: list[int] = []

    def client() -> None:
        for _ in range(10):
            results.append(request(sidecar.url, "POST", "/echo", body=b"a" * 200)[0])

    threads = [threading.Thread(target=client) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == [200] * 40
    assert time.monotonic() - started < 10
    assert sidecar.metric("infertap_capture_records_total", outcome="queue_full") == 40
    assert sidecar.metric("infertap_capture_records_total", outcome="captured") == 0


def test_sigterm_finishes_in_flight_requests_and_delivers(
    start_sidecar: StartSidecar, upstream: Upstream
) -> None:
    sidecar = start_sidecar(flush_interval=60, capture_methods="GET")
    token = uuid.uuid4().hex
    host, port = sidecar.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", f"/stream?hold={token}&chunks=3", headers={"X-Inference-Id": token})
    response = connection.getresponse()
    assert response.read1() == b"data: 0\n\n"
    sidecar.terminate()
    wait_until(lambda: not port_open(sidecar.port), timeout=5, what="traffic port closed")
    assert request(upstream.url, "POST", f"/release/{token}")[0] == 200
    assert response.read() == b"data: 1\n\ndata: 2\n\n"
    connection.close()
    assert sidecar.wait() == 0
    [record] = [r for r in sidecar.records() if r["eventMetadata"].get("inferenceId") == token]
    assert base64.b64decode(record["captureData"]["endpointOutput"]["data"]).count(b"data:") == 3
