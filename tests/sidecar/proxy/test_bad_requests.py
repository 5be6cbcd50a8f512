"""Malformed requests: a JSON 4xx each, counted, logged rarely and never with header values."""

from __future__ import annotations

import math
import socket
import time

from tests.sidecar.conftest import SidecarProcess, StartSidecar, http_get
from tests.sidecar.raw_http import exchange, read_response
from tests.sidecar.raw_upstream import raw_upstream

SECRET = "S3CRETvalue9f2a"
MALFORMED = (
    f"GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\x01\r\n\r\n".encode(),
    f"GET /x HTTP/1.1\r\nHost: x\r\nCookie: a={SECRET}{'c' * 70000}\r\n\r\n".encode(),
    f"GET /x HTTP/1.1\r\nHost: x\r\nX-Api-Key {SECRET}\r\n\r\n".encode(),
)
COUNT = 1000
# Each log reason speaks at most once per THROTTLE seconds (sidecar.answers.ThrottledLog).
THROTTLE = 5.0


def _allowed_lines(reasons: int, started: float) -> int:
    """Log lines a throttled run of `reasons` reasons may write since `started`: small, and
    independent of the request count (a slow machine only adds one line per interval)."""
    return reasons * (1 + math.ceil((time.monotonic() - started) / THROTTLE))


def _client_errors(sidecar: SidecarProcess) -> float:
    return sum(
        value
        for key, value in sidecar.metrics().items()
        if key.startswith('infertap_requests_total{code="4')
    )


def test_malformed_requests_are_counted_and_never_log_header_values(
    start_sidecar: StartSidecar,
) -> None:
    sidecar = start_sidecar()
    lines_before = len(sidecar.logs().splitlines())
    before = _client_errors(sidecar)
    started = time.monotonic()
    statuses = set()
    for i in range(COUNT):
        with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
            sock.sendall(MALFORMED[i % len(MALFORMED)])
            response = read_response(sock)
        statuses.add(response.status)
        assert response.headers["content-type"] == "application/json"
        assert SECRET.encode() not in response.body
    assert statuses <= {400, 431}
    assert _client_errors(sidecar) == before + COUNT
    logs = sidecar.logs()
    assert SECRET not in logs
    new_lines = len(logs.splitlines()) - lines_before
    assert new_lines <= _allowed_lines(len(MALFORMED), started), logs
    assert sidecar.alive()


def test_the_admin_port_never_logs_header_values_either(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar()
    lines_before = len(sidecar.logs().splitlines())
    started = time.monotonic()
    for i in range(100):
        with socket.create_connection(("127.0.0.1", sidecar.admin_port), timeout=10) as sock:
            sock.sendall(MALFORMED[i % len(MALFORMED)])
            assert read_response(sock).status in (400, 431)
    assert http_get(sidecar.admin_url + "/healthz")[0] == 200
    logs = sidecar.logs()
    assert SECRET not in logs
    assert len(logs.splitlines()) - lines_before <= _allowed_lines(1, started), logs


def test_a_malformed_upstream_answer_is_a_502_without_its_header_values(
    start_sidecar: StartSidecar,
) -> None:
    answer = f"HTTP/1.1 200 OK\r\nSet-Cookie: {SECRET}\x01\r\nContent-Length: 2\r\n\r\n{{}}"
    with raw_upstream(answer.encode()) as upstream:
        sidecar = start_sidecar(upstream=upstream.url)
        for _ in range(20):
            response = exchange(sidecar.port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            assert response.status == 502
            assert response.json()["reason"] == "bad_response"
            assert SECRET.encode() not in response.body
        assert SECRET not in sidecar.logs()


def test_an_oversized_header_or_request_line_is_a_counted_431(start_sidecar: StartSidecar) -> None:
    """Past 64 KiB in one header (name or value) or the request line: 431, as the README says."""
    sidecar = start_sidecar()
    oversized = (
        b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: x\r\nX-" + b"n" * 70_000 + b": v\r\n\r\n",
        b"GET /" + b"p" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    for request in oversized:
        response = exchange(sidecar.port, request)
        assert response.status == 431
        assert response.json() == {"error": "headers_too_large", "reason": "LineTooLong"}
    assert sidecar.metric("infertap_requests_total", code="431") == len(oversized)
    # Many headers, each within the limit, are not oversized: forwarded as they are.
    many = b"".join(b"X-H%d: %s\r\n" % (n, b"b" * 1000) for n in range(100))
    assert (
        exchange(sidecar.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").status == 200
    )
