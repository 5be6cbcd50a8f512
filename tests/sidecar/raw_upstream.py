"""A byte-recording HTTP/1.1 server for tests: what exactly reached the wire, undecoded.

`RawUpstream` answers every request `200 {}` (keep-alive), or the bytes it is given, and records
its request line, headers (as received) and body bytes (Content-Length or de-chunked, never
decompressed). It also counts accepted connections, so a test can assert that a decoy listener
received nothing at all.
"""

from __future__ import annotations

import io
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class RawRequest:
    line: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class RawUpstream:
    port: int
    requests: list[RawRequest] = field(default_factory=list)
    connections: int = 0
    received: bytearray = field(default_factory=bytearray)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _read_body(stream: io.BufferedIOBase, headers: list[tuple[str, str]]) -> bytes:
    names = {k.lower(): v for k, v in headers}
    if names.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += stream.read(size)
            stream.readline()
    return stream.read(int(names.get("content-length", "0")))


@contextmanager
def raw_upstream(answer: bytes = ANSWER) -> Iterator[RawUpstream]:
    """A RawUpstream on a free 127.0.0.1 port for the duration of the block; `/ping` gets
    ANSWER, every other request `answer`."""
    state = RawUpstream(port=0)
    lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            with lock:
                state.connections += 1
            while True:
                line = self.rfile.readline(65536)
                if not line:
                    return
                with lock:
                    state.received += line
                headers: list[tuple[str, str]] = []
                while (raw := self.rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers.append((name, value.strip()))
                body = _read_body(self.rfile, headers)
                with lock:
                    state.requests.append(RawRequest(line.decode("latin-1").strip(), headers, body))
                self.wfile.write(ANSWER if line.startswith(b"GET /ping ") else answer)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
