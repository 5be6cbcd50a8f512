"""The lean upstream client: exact request bytes, framing, keep-alive reuse and failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from sidecar.proxy.upstream_pool import (
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
)
from tests.conftest import free_port
from tests.sidecar.upstream import build_app


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    runner = web.AppRunner(build_app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def raw_server(answer: bytes) -> tuple[asyncio.Server, str]:
    """A server that answers every connection with `answer` after the request head."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def test_serves_only_plain_http_without_credentials() -> None:
    assert UpstreamPool.serves("http://127.0.0.1:8080")
    assert UpstreamPool.serves("http://model/prefix")
    assert not UpstreamPool.serves("https://model")
    assert not UpstreamPool.serves("http://user:pw@model")
    with pytest.raises(ValueError, match="plain http"):
        UpstreamPool("https://model", 1.0, 1.0)


async def test_request_bytes_headers_and_keep_alive(upstream: str) -> None:
    pool = UpstreamPool(upstream, 2.0, 5.0)
    headers = CIMultiDict([("X-Custom", "one"), ("X-Custom", "two"), ("Content-Type", "a/b")])
    first = await pool.request("POST", "/echo/a%20b?x=%2F&x=2", headers, b"\x00payload\xff")
    async with first:
        assert first.status == 200 and first.content_length == 9
        assert await first.read() == b"\x00payload\xff"
        assert first.headers["X-Received-Path"] == "/echo/a%20b?x=%2F&x=2"
        received = json.loads(first.headers["X-Received-Headers"])
    assert received == [
        ["Host", upstream.removeprefix("http://")],
        ["X-Custom", "one"],
        ["X-Custom", "two"],
        ["Content-Type", "a/b"],
        ["Content-Length", "9"],
    ]
    connection = first._protocol
    # A bodiless POST says Content-Length: 0; a GET sends none; the connection is reused.
    second = await pool.request("POST", "/echo", CIMultiDict(), None)
    async with second:
        assert await second.read() == b""
        assert ["Content-Length", "0"] in json.loads(second.headers["X-Received-Headers"])
    assert second._protocol is connection
    third = await pool.request("GET", "/echo", CIMultiDict(), None)
    async with third:
        await third.read()
        names = [name for name, _ in json.loads(third.headers["X-Received-Headers"])]
        assert names == ["Host"]
    await pool.close()


async def test_head_chunked_and_base_path(upstream: str) -> None:
    pool = UpstreamPool(upstream + "/echo", 2.0, 5.0)
    async with await pool.request("HEAD", "/x?y=1", CIMultiDict(), None) as head:
        assert head.status == 200 and await head.read() == b""
        assert head.headers["X-Received-Path"] == "/echo/x?y=1"
    await pool.close()
    pool = UpstreamPool(upstream, 2.0, 5.0)
    async with await pool.request("GET", "/chunked?chunks=3", CIMultiDict(), None) as chunked:
        assert chunked.content_length is None
        parts = [part async for part in chunked.content.iter_any()]
    assert b"".join(parts).count(b"\n") == 3
    await pool.close()


async def test_failures_are_reported_as_aiohttp_reports_them(upstream: str) -> None:
    with pytest.raises(UpstreamConnectError) as refused:
        await UpstreamPool(f"http://127.0.0.1:{free_port()}", 2.0, 5.0).request(
            "GET", "/", CIMultiDict(), None
        )
    assert isinstance(refused.value.os_error, ConnectionRefusedError)
    assert not refused.value.dns

    slow = UpstreamPool(upstream, 2.0, 0.2)
    with pytest.raises(aiohttp.ServerTimeoutError):
        await slow.request("GET", "/slow?seconds=1", CIMultiDict(), None)
    await slow.close()

    server, url = await raw_server(b"NOT HTTP AT ALL\r\n\r\n")
    async with server:
        with pytest.raises(UpstreamProtocolError):
            await UpstreamPool(url, 2.0, 2.0).request("GET", "/", CIMultiDict(), None)
    server, url = await raw_server(b"")
    async with server:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await UpstreamPool(url, 2.0, 2.0).request("GET", "/", CIMultiDict(), None)


async def test_interim_answers_are_skipped_and_close_is_honoured() -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    )
    server, url = await raw_server(answer)
    async with server:
        pool = UpstreamPool(url, 2.0, 2.0)
        response = await pool.request("POST", "/", CIMultiDict(), b"1")
        async with response:
            assert response.status == 201 and await response.read() == b"ok"
        assert pool._idle == []


async def test_a_connection_the_upstream_wrote_on_while_idle_is_not_reused() -> None:
    """Bytes an upstream sends between requests would be read as the next request's answer:
    such a connection is closed when taken from the pool, and the request goes on a new one."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer + b"ok")
        await writer.drain()
        if connections == 1:
            await asyncio.sleep(0.05)
            writer.write(answer + b"no")  # unasked for, while the connection idles
            await writer.drain()
        await reader.read()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        pool = UpstreamPool(url, 2.0, 2.0)
        for _ in range(2):
            response = await pool.request("GET", "/", CIMultiDict(), None)
            async with response:
                assert await response.read() == b"ok"
            await asyncio.sleep(0.1)  # the stray answer arrives while the connection idles
        assert connections == 2
        await pool.close()
