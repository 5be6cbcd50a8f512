"""One test per aiohttp internal the proxy uses (sidecar/proxy/aiohttp_internals.py), on real
connections over 127.0.0.1: a new aiohttp release that moves one fails here, by name."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from sidecar.proxy import aiohttp_internals as internals


def test_the_installed_release_is_supported_and_others_fail_loudly() -> None:
    internals.check_release()
    for version in ("3.15.0", "4.0.0a1", "3.13.2"):
        with pytest.raises(internals.UnsupportedAiohttp, match=r"aiohttp_internals\.py"):
            internals.check_release(version)


@pytest.mark.parametrize(("owner", "name"), internals.INTERNALS)
def test_every_listed_internal_exists(owner: type, name: str) -> None:
    assert internals._has(owner, name)


ENTERED: list[asyncio.Event] = []


async def _handler(request: web.BaseRequest) -> web.Response:
    for entered in ENTERED:
        entered.set()
    await request.read()
    return web.Response(text="ok")


class Probe(RequestHandler):
    """Records what the internals say after each chunk of bytes a client sends."""

    seen: list[tuple[int, bool, bool]]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        body = internals.last_request_body(self)
        self.seen.append(
            (internals.requests_queued(self), body is not None, internals.request_in_progress(self))
        )


@pytest.fixture
async def probed() -> AsyncIterator[tuple[int, list[Probe]]]:
    server = Server(_handler, max_line_size=4321)
    probes: list[Probe] = []

    def protocol() -> Probe:
        probe = Probe(server, **internals.protocol_arguments(server))
        probe.seen = []
        probes.append(probe)
        return probe

    listener = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    yield listener.sockets[0].getsockname()[1], probes
    listener.close()
    await server.shutdown(1.0)


async def test_protocol_arguments_carry_the_servers_loop_and_options(
    probed: tuple[int, list[Probe]],
) -> None:
    port, probes = probed
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/") as response,
    ):
        assert response.status == 200
    assert probes[0].max_line_size == 4321


async def test_the_request_queue_and_progress_are_seen(probed: tuple[int, list[Probe]]) -> None:
    port, probes = probed
    entered = asyncio.Event()
    ENTERED.append(entered)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
    await writer.drain()
    async with asyncio.timeout(5):
        await entered.wait()
        ENTERED.remove(entered)
        # The head was parsed and queued before the handler task took it.
        assert probes[0].seen[0] == (1, True, False)
        assert internals.request_in_progress(probes[0])
        writer.write(b"cd")
        await writer.drain()
        assert b"200 OK" in await reader.readuntil(b"ok")
    assert probes[0].seen[-1][0] == 0  # the rest of the body: nothing queued
    writer.close()


async def test_a_detached_connection_is_never_reported_to_the_server() -> None:
    server = Server(_handler)
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))

    class Refusing(RequestHandler):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            internals.detach_from_server(self)
            transport.close()

    listener = await loop.create_server(
        lambda: Refusing(server, **internals.protocol_arguments(server)), "127.0.0.1", 0
    )
    port = listener.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await reader.read() == b""  # closed at once
    writer.close()
    listener.close()
    assert server.connections == [] and errors == []
    loop.set_exception_handler(None)


async def _answer_once(reply: bytes) -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if reply:
            writer.write(reply)
            await writer.drain()
        await reader.read()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0)
    return listener, listener.sockets[0].getsockname()[1]


async def _connect(port: int) -> internals.ResponseHandler:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: internals.new_response_protocol(loop), "127.0.0.1", port
    )
    return protocol


@pytest.mark.parametrize(("connection", "reusable"), [(b"keep-alive", True), (b"close", False)])
async def test_a_response_is_read_with_the_response_protocol(
    connection: bytes, reusable: bool
) -> None:
    reply = b"HTTP/1.1 201 Made\r\nContent-Length: 2\r\nConnection: %s\r\n\r\nhi" % connection
    listener, port = await _answer_once(reply)
    protocol = await _connect(port)
    internals.read_response_head(
        protocol, head_only=False, read_timeout=5.0, read_bufsize=1024, max_field_size=8190
    )
    transport = internals.transport_of(protocol)
    assert transport is not None
    transport.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    internals.start_read_timeout(protocol)
    message, payload = await internals.next_response(protocol)
    assert (message.code, message.reason, await payload.read()) == (201, "Made", b"hi")
    assert internals.reusable(protocol) is reusable and internals.connected(protocol)
    internals.close_connection(protocol)
    assert not internals.connected(protocol)
    listener.close()


async def test_the_read_timeout_starts_when_asked() -> None:
    listener, port = await _answer_once(b"")  # never answers
    protocol = await _connect(port)
    internals.read_response_head(
        protocol, head_only=False, read_timeout=0.2, read_bufsize=1024, max_field_size=8190
    )
    transport = internals.transport_of(protocol)
    assert transport is not None
    transport.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    internals.start_read_timeout(protocol)
    with pytest.raises(aiohttp.ServerTimeoutError):
        async with asyncio.timeout(5):
            await internals.next_response(protocol)
    internals.close_connection(protocol)
    listener.close()


async def test_the_runner_starts_the_app_before_its_server_and_cleans_up_after() -> None:
    events: list[str] = []

    async def resource(app: web.Application) -> AsyncIterator[None]:
        events.append("started")
        yield
        events.append("cleaned")

    app = web.Application()
    app.cleanup_ctx.append(resource)

    def make_server(**options: Any) -> Server:
        events.append(f"server {sorted(options)}")
        return Server(_handler, **options)

    runner = internals.AppServerRunner(app, make_server, access_log=None)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/", data=b"x") as response,
    ):
        assert await response.text() == "ok"
    await runner.cleanup()
    assert events == ["started", "server ['access_log']", "cleaned"]
