"""Slow and numerous clients: header and body timeouts, the connection cap, and their metrics."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.conftest import wait_until
from tests.sidecar.conftest import SidecarProcess, StartSidecar, http_get
from tests.sidecar.raw_http import read_response

SLOW = 50
TIMEOUT = 1.0
# Generous on a loaded 2-core machine; the point is "closed", not "held for an hour".
MARGIN = 5.0


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT + MARGIN)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (EOF or reset) before its read timeout."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


@pytest.fixture
def strict(start_sidecar: StartSidecar) -> SidecarProcess:
    # One limit as a flag, one as its INFERTAP_ variable: both spellings reach the server.
    return start_sidecar(
        client_body_timeout=TIMEOUT, env={"INFERTAP_CLIENT_HEADER_TIMEOUT": str(TIMEOUT)}
    )


@pytest.fixture
def slow_heads(strict: SidecarProcess) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(_connect(strict.port)) for _ in range(SLOW)]
        for i, sock in enumerate(sockets):
            # Half send a partial head, half nothing at all.
            if i % 2:
                sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-")
        yield sockets


def test_slow_headers_are_closed_and_counted_while_others_are_served(
    strict: SidecarProcess, slow_heads: list[socket.socket]
) -> None:
    started = time.monotonic()
    assert http_get(strict.url + "/ping")[0] == 200
    assert all(_closed_by_peer(sock) for sock in slow_heads)
    assert time.monotonic() - started < TIMEOUT + MARGIN
    assert http_get(strict.url + "/ping")[0] == 200
    wait_until(
        lambda: strict.metric("infertap_client_timeouts_total", phase="header") >= SLOW,
        timeout=5,
        what="header timeouts counted",
    )
    wait_until(
        lambda: strict.metric("infertap_client_connections") == 0,
        timeout=5,
        what="connections gauge back to 0",
    )


def test_a_trickling_head_is_closed_at_the_header_timeout(strict: SidecarProcess) -> None:
    with _connect(strict.port) as sock:
        sock.settimeout(0.25)
        started = time.monotonic()
        head = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        closed = False
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed
        assert time.monotonic() - started < TIMEOUT + MARGIN


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_stalled_body_is_a_counted_408(strict: SidecarProcess, chunked: bool) -> None:
    before = strict.metric("infertap_requests_total", code="408")
    body_framing = (
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nab" if chunked else b"Content-Length: 10\r\n\r\nab"
    )
    with _connect(strict.port) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n" + body_framing)
        response = read_response(sock)
        assert time.monotonic() - started < TIMEOUT + MARGIN
    assert response.status == 408
    assert response.json()["error"] == "client_timeout"
    assert strict.metric("infertap_requests_total", code="408") == before + 1
    assert strict.metric("infertap_client_timeouts_total", phase="body") >= 1
    assert strict.metric("infertap_capture_records_total", outcome="proxy_error") >= 1


def test_connections_past_the_cap_are_closed_at_once(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar(max_connections=5, client_header_timeout=60)
    with ExitStack() as stack:
        held = [stack.enter_context(_connect(sidecar.port)) for _ in range(5)]
        wait_until(
            lambda: sidecar.metric("infertap_client_connections") == 5,
            timeout=5,
            what="5 connections open",
        )
        with _connect(sidecar.port) as extra:
            started = time.monotonic()
            assert _closed_by_peer(extra)
            assert time.monotonic() - started < MARGIN
        assert sidecar.metric("infertap_connections_rejected_total") == 1
        for sock in held:
            sock.close()
        wait_until(
            lambda: http_get(sidecar.url + "/ping", timeout=2)[0] == 200,
            timeout=5,
            what="served again below the cap",
        )
    assert sidecar.metric("infertap_connections_rejected_total") == 1
