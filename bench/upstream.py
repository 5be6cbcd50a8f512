"""A trivial, fast HTTP/1.1 upstream for the benchmarks: answers every request with a fixed body.

Raw asyncio (uvloop when present) so that it is not the bottleneck: it reads each request (with
Content-Length or chunked body), discards it and writes a 200 with `0.500000\\n` as text/csv.
Run: `python bench/upstream.py --port 8080`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import cast

BODY = b"0.500000\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class FixedAnswer(asyncio.Protocol):
    """One connection: parse request framing just enough to answer each request once."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self._request_end()) is not None:
            close = b"\r\nconnection: close" in bytes(self.buffer[: self.buffer.find(b"\r\n\r\n")])
            del self.buffer[:end]
            assert self.transport is not None
            self.transport.write(RESPONSE)
            if close:
                self.transport.close()
                return

    def _request_end(self) -> int | None:
        """Offset just past the first complete request in the buffer, or None."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = bytes(self.buffer[:head_end]).lower()
        position = head_end + 4
        if b"\r\ntransfer-encoding: chunked" in head:
            while True:
                line_end = self.buffer.find(b"\r\n", position)
                if line_end < 0:
                    return None
                size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
                position = line_end + 2 + size + 2
                if position > len(self.buffer):
                    return None
                if size == 0:
                    return position
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            value_end = head.find(b"\r\n", marker + 2)
            value = head[marker + 17 : value_end if value_end >= 0 else len(head)]
            position += int(value.strip())
        return position if position <= len(self.buffer) else None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FixedAnswer, host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
