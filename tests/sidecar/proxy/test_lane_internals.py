"""The aiohttp internals the fast lane adds to sidecar/proxy/aiohttp_internals.py, one test each,
on real connections over 127.0.0.1: requests taken from aiohttp's queue before its handler task
(LaneRequestHandler), a whole body read in place (whole_body), a response told to a listener
(UpstreamProtocol.listener), and a kept connection's response parser used again
(read_response_head)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.web_server import Server

from sidecar.proxy import aiohttp_internals as internals

HANDLED: list[str] = []


async def _handler(request: web.BaseRequest) -> web.Response:
    HANDLED.append(request.path)
    return web.Response(text="task")


@dataclass
class Taken:
    """What the taking protocols did."""

    bodies: list[bytes] = field(default_factory=list)
    empty_feeds: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


class Taker(internals.LaneRequestHandler):
    """Takes every request whose path starts /lane (answered when `taken.release` is set, or
    at once for /lane/now) and hands back the others."""

    taken: Taken

    def data_received(self, data: bytes) -> None:
        if not data:
            self.taken.empty_feeds += 1
        super().data_received(data)

    def requests_parsed(self) -> None:
        request = self.next_request()
        if request is None or not request[0].path.startswith("/lane"):
            self.wake_handler()
            return
        message, payload = request
        self.take_request()
        self.taken.bodies.append(internals.whole_body(payload))
        if message.path == "/lane/back":
            self.hand_back(message, payload)
        elif message.path == "/lane/now":
            self._answer()
        else:
            asyncio.ensure_future(self.taken.release.wait()).add_done_callback(
                lambda _: self._answer()
            )

    def _answer(self) -> None:
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlane")
        self.request_done()
        self.requests_parsed()


@dataclass
class Serving:
    port: int
    server: Server
    taken: Taken


@pytest.fixture
async def serving() -> AsyncIterator[Serving]:
    HANDLED.clear()
    server = Server(_handler, keepalive_timeout=0.3)
    taken = Taken()

    def protocol() -> Taker:
        taker = Taker(server, **internals.protocol_arguments(server))
        taker.taken = taken
        return taker

    listener = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    yield Serving(listener.sockets[0].getsockname()[1], server, taken)
    listener.close()
    await server.shutdown(1.0)


async def _answers(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    bodies = []
    async with asyncio.timeout(5):
        for _ in range(count):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            bodies.append(await reader.readexactly(length))
    return bodies


async def test_taken_requests_skip_the_handler_task_and_handed_back_ones_reach_it_in_order(
    serving: Serving,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", serving.port)
    writer.write(
        b"POST /lane/now HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /lane/back HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert await _answers(reader, 3) == [b"lane", b"task", b"task"]
    assert HANDLED == ["/lane/back", "/task"]
    assert serving.server.requests_count == 2
    # A whole body is read where it lies: the parser is not re-entered for it.
    assert serving.taken.bodies[0] == b"abc" and serving.taken.empty_feeds == 0
    writer.write(b"GET /lane/now HTTP/1.1\r\nHost: x\r\n\r\n")  # the lane again, once idle
    assert await _answers(reader, 1) == [b"lane"]
    writer.close()


async def test_a_taken_request_holds_off_the_keep_alive_close_until_it_is_done(
    serving: Serving,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", serving.port)
    writer.write(b"GET /lane/wait HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.8)  # past the 0.3 s keep-alive timeout, twice
    serving.taken.release.set()
    assert await _answers(reader, 1) == [b"lane"]
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # idle again: closed in time
    assert asyncio.get_running_loop().time() - started < 2
    writer.close()


async def test_a_graceful_shutdown_waits_for_a_taken_request_then_closes(
    serving: Serving,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", serving.port)
    writer.write(b"GET /lane/wait HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.1)
    serving.server.pre_shutdown()  # as aiohttp's runner stops a server
    shutdown = asyncio.ensure_future(serving.server.shutdown(5.0))
    await asyncio.sleep(0.3)
    assert not shutdown.done()
    serving.taken.release.set()
    assert await _answers(reader, 1) == [b"lane"]
    assert await asyncio.wait_for(reader.read(), 5) == b""
    await asyncio.wait_for(shutdown, 5)
    writer.close()


async def test_a_graceful_shutdown_gives_up_a_taken_request_within_its_one_timeout(
    serving: Serving,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", serving.port)
    writer.write(b"GET /lane/wait HTTP/1.1\r\nHost: x\r\n\r\n")  # never answered
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    serving.server.pre_shutdown()
    await asyncio.wait_for(serving.server.shutdown(0.5), 5)
    # One timeout in all (aiohttp would wait a second one for its idle handler task), and the
    # connection closed: the request given up, as a handler overrunning it is cancelled.
    assert 0.4 < loop.time() - started < 0.9
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


class Listener:
    def __init__(self) -> None:
        self.arrived: list[tuple[int, bytes]] = []
        self.failed: list[BaseException] = []
        self.done = asyncio.Event()

    def response_arrived(
        self, message: internals.RawResponseMessage, payload: internals.StreamReader
    ) -> None:
        self.arrived.append((message.code, internals.whole_body(payload)))
        self.done.set()

    def response_failed(self, exc: BaseException) -> None:
        self.failed.append(exc)
        self.done.set()


async def _upstream(replies: list[bytes]) -> tuple[asyncio.Server, int]:
    """Answers each request with the next reply; closes the connection when none is left."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0)
    return listener, listener.sockets[0].getsockname()[1]


async def _send(protocol: internals.UpstreamProtocol, method: bytes) -> None:
    internals.read_response_head(
        protocol,
        head_only=method == b"HEAD",
        read_timeout=5.0,
        read_bufsize=1024,
        max_field_size=8190,
    )
    transport = internals.transport_of(protocol)
    assert transport is not None
    transport.write(method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
    internals.start_read_timeout(protocol)


async def test_a_listener_is_told_the_response_skipping_interim_ones_or_the_failure() -> None:
    replies = [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Made\r\nContent-Length: 2\r\n\r\nhi"]
    listener, port = await _upstream(replies)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: internals.new_response_protocol(loop), "127.0.0.1", port
    )
    for expected in ([(201, b"hi")], []):
        told = Listener()
        protocol.listener = told
        await _send(protocol, b"GET")
        await asyncio.wait_for(told.done.wait(), 5)
        assert told.arrived == expected and protocol.listener is None
    # The second request was closed on: the listener got the failure, not an answer.
    assert [type(exc) for exc in told.failed] == [aiohttp.ServerDisconnectedError]
    listener.close()


async def test_a_kept_connections_response_parser_parses_the_next_response() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    listener, port = await _upstream([reply + b"ok", reply + b"ok", reply])
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: internals.new_response_protocol(loop), "127.0.0.1", port
    )
    parsers = []
    for method in (b"GET", b"GET", b"HEAD"):
        await _send(protocol, method)
        parsers.append(protocol._parser)
        message, payload = await internals.next_response(protocol)
        body = b"" if method == b"HEAD" else await payload.read()
        assert (message.code, body) == (200, b"" if method == b"HEAD" else b"ok")
    assert parsers[0] is parsers[1] and parsers[2] is not parsers[1]
    internals.close_connection(protocol)
    listener.close()
