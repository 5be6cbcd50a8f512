"""A sketch of a lean data path, for bench/cpu_cost.py: aiohttp's C parsers (HttpRequestParser,
HttpResponseParser) driven straight from asyncio protocols on uvloop, with no Task, request or
response object, StreamWriter or timer per request and one write per message.

Content-Length bodies, read whole; hop-by-hop headers dropped, X-Forwarded-For added; no limits,
timeouts, capture or metrics. It is the floor a lean path built on aiohttp's parsers can reach,
not a proxy to use. Run: `python bench/lean_proxy.py --port 8082 --upstream-port 8080`.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvloop
from aiohttp._http_parser import HttpRequestParser, HttpResponseParser
from aiohttp.base_protocol import BaseProtocol

HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding")
)
LIMIT = 1 << 16


def header_lines(raw_headers: tuple[tuple[bytes, bytes], ...]) -> list[bytes]:
    return [b"%s: %s\r\n" % (n, v) for n, v in raw_headers if n.lower() not in HOP_BY_HOP]


class Flat(BaseProtocol):
    """No flow control: the bodies here are small and taken whole (aiohttp's StreamReader would
    otherwise call resume_reading, which re-enters the parser, after every read)."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


def on_complete(message: Any, payload: Any, then: Any) -> None:
    """Call then(message, body) once the payload is complete (at once when it already is)."""
    if payload.is_eof():
        then(message, payload.read_nowait())
    else:
        payload.on_eof(lambda: then(message, payload.read_nowait()))


class Upstream(Flat):
    def __init__(self, loop: asyncio.AbstractEventLoop, pool: list[Upstream]) -> None:
        super().__init__(loop)
        self.parser = HttpResponseParser(self, loop, LIMIT)
        self.pool = pool
        self.client: Client | None = None

    def send(self, client: Client, data: bytes) -> None:
        self.client = client
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        messages, _, _ = self.parser.feed_data(data)
        for message, payload in messages:
            on_complete(message, payload, self.done)

    def done(self, message: Any, body: bytes) -> None:
        client, self.client = self.client, None
        self.pool.append(self)
        if client is not None:
            client.respond(message, body)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        if self in self.pool:
            self.pool.remove(self)


class Client(Flat):
    def __init__(self, loop: asyncio.AbstractEventLoop, pool: list[Upstream], port: int) -> None:
        super().__init__(loop)
        self.parser = HttpRequestParser(self, loop, LIMIT)
        self.pool = pool
        self.upstream_port = port
        self.connecting: asyncio.Task[None] | None = None

    def data_received(self, data: bytes) -> None:
        messages, _, _ = self.parser.feed_data(data)
        for message, payload in messages:
            on_complete(message, payload, self.forward)

    def forward(self, message: Any, body: bytes) -> None:
        head = [b"%s %s HTTP/1.1\r\n" % (message.method.encode(), message.path.encode())]
        head += header_lines(message.raw_headers)
        head.append(b"X-Forwarded-For: 127.0.0.1\r\n\r\n")
        data = b"".join(head) + body
        if self.pool:
            self.pool.pop().send(self, data)
        else:
            # Kept so that the task is not collected before it connects.
            self.connecting = asyncio.ensure_future(self.connect(data))

    async def connect(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        _, upstream = await loop.create_connection(
            lambda: Upstream(loop, self.pool), "127.0.0.1", self.upstream_port
        )
        upstream.send(self, data)

    def respond(self, message: Any, body: bytes) -> None:
        if self.transport is not None:
            status = b"HTTP/1.1 %d %s\r\n" % (message.code, message.reason.encode())
            lines = header_lines(message.raw_headers)
            self.transport.write(b"".join([status, *lines, b"\r\n", body]))


async def serve(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    pool: list[Upstream] = []
    server = await loop.create_server(
        lambda: Client(loop, pool, upstream_port), "127.0.0.1", port, backlog=1024
    )
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.upstream_port))


if __name__ == "__main__":
    main()
