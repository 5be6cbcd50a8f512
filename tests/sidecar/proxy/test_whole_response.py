"""The buffered answer written in one piece (whole_response.py) and aiohttp's path beside it:
keep-alive and `Connection: close` as the client asked, HTTP/1.0 and HEAD answered the aiohttp
way, on real sockets through a real sidecar."""

from __future__ import annotations

import socket

from tests.sidecar.conftest import SidecarProcess
from tests.sidecar.proxy.test_proxy import sidecar  # noqa: F401  (the module's sidecar)
from tests.sidecar.raw_http import read_response


def _port(process: SidecarProcess) -> int:
    return int(process.url.rsplit(":", 1)[1])


def _post(version: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /echo HTTP/" + version + b"\r\nHost: x\r\nContent-Type: text/csv\r\n"
        b"Content-Length: 3\r\n" + extra + b"\r\n1,2"
    )


def test_answers_keep_the_connection_until_the_client_asks_to_close(
    sidecar: SidecarProcess,  # noqa: F811
) -> None:
    with socket.create_connection(("127.0.0.1", _port(sidecar)), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(_post(b"1.1"))
            answer = read_response(sock)
            assert (answer.status, answer.body) == (200, b"1,2")
            assert answer.headers["content-type"].startswith("text/csv")
            assert "date" in answer.headers and "connection" not in answer.headers
        sock.sendall(_post(b"1.1", b"Connection: close\r\n"))
        answer = read_response(sock)
        assert (answer.status, answer.body, answer.headers["connection"]) == (200, b"1,2", "close")
        assert sock.recv(1) == b""  # closed after the answer


def test_http_1_0_and_head_are_answered_the_aiohttp_way(
    sidecar: SidecarProcess,  # noqa: F811
) -> None:
    with socket.create_connection(("127.0.0.1", _port(sidecar)), timeout=10) as sock:
        sock.sendall(_post(b"1.0"))
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.0 200 ")
    with socket.create_connection(("127.0.0.1", _port(sidecar)), timeout=10) as sock:
        sock.sendall(b"HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\n")  # no body
