"""A client that hangs up before the upstream answers is still counted: `499` in
infertap_requests_total and `client_disconnected` among the capture outcomes, so requests and
records add up (buffered and streamed request bodies, and streams left before their head)."""

from __future__ import annotations

import socket

from tests.conftest import wait_until
from tests.sidecar.conftest import StartSidecar

EACH = 4


def _hang_up(port: int, request: bytes) -> None:
    """Send a whole request, then close the connection without reading the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)


def _requests() -> list[bytes]:
    buffered = b"POST /slow?seconds=5 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n1,2"
    chunked = (
        b"POST /slow?seconds=5 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\n1,2\r\n0\r\n\r\n"
    )
    stream = b"POST /stream?wait=5 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    return [buffered, chunked, stream] * EACH


def test_a_client_gone_before_the_answer_is_counted_499_and_client_disconnected(
    start_sidecar: StartSidecar,
) -> None:
    sidecar = start_sidecar(capture_methods="POST,GET")
    port = int(sidecar.url.rsplit(":", 1)[1])
    sent = _requests()
    for request in sent:
        _hang_up(port, request)

    def counted() -> bool:
        gone = sidecar.metric("infertap_requests_total", code="499")
        return gone == len(sent) and sidecar.metric(
            "infertap_capture_records_total", outcome="client_disconnected"
        ) == len(sent)

    wait_until(counted, timeout=15, what="499s and client_disconnected outcomes")
    metrics = sidecar.metrics()
    requests = sum(v for k, v in metrics.items() if k.startswith("infertap_requests_total{"))
    outcomes = sum(v for k, v in metrics.items() if k.startswith("infertap_capture_records_total{"))
    assert requests == outcomes == len(sent)
    assert sidecar.records() == []
