"""A lean keep-alive client for the proxy's usual exchange: a buffered request to a plain-HTTP
upstream. It writes the request head itself and reads the answer with aiohttp's own response
protocol (C parser, read timeout, flow control), skipping ClientSession's per-request layers;
that protocol is aiohttp's internal, reached through aiohttp_internals.py.

The proxy uses `aiohttp.ClientSession` for the rest (streamed request bodies, https upstreams).
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from urllib.parse import urlsplit

from aiohttp import hdrs
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.errors import SidecarError
from sidecar.proxy.aiohttp_internals import (
    StreamReader,
    UpstreamProtocol,
    close_connection,
    new_response_protocol,
    next_response,
    read_response_head,
    reusable,
    start_read_timeout,
    transport_of,
)
from sidecar.proxy.raw_heads import RawHeaders
from sidecar.proxy.upstream_client import MAX_HEADER_BYTES

# aiohttp's ClientRequest.GET_METHODS: methods sent without Content-Length when bodiless.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Idle keep-alive connections kept per worker; more are closed when released.
MAX_IDLE = 256
READ_CHUNK = 1 << 16


class UpstreamConnectError(SidecarError):
    """The upstream could not be connected to (refused, unknown host, unreachable)."""

    def __init__(self, host: str, port: int, os_error: OSError) -> None:
        super().__init__(f"cannot connect to upstream {host}:{port}: {os_error}")
        self.os_error = os_error

    @property
    def dns(self) -> bool:
        return isinstance(self.os_error, socket.gaierror)


class UpstreamProtocolError(SidecarError):
    """The upstream answered something that is not an HTTP/1.x response."""


class UpstreamResponse:
    """The parts of `aiohttp.ClientResponse` the proxy reads; releases its connection on exit."""

    __slots__ = (
        "_body",
        "_pool",
        "_protocol",
        "content",
        "headers",
        "raw_headers",
        "reason",
        "status",
    )

    def __init__(
        self,
        pool: UpstreamPool,
        protocol: UpstreamProtocol,
        status: int,
        reason: str,
        headers: CIMultiDictProxy[str],
        raw_headers: RawHeaders,
        content: StreamReader,
        body: bytes | None = None,
    ) -> None:
        self._body = body  # the body, when it was read already
        self._pool = pool
        self._protocol = protocol
        self.status = status
        self.reason = reason
        self.headers = headers
        self.raw_headers = raw_headers
        self.content = content

    @property
    def content_length(self) -> int | None:
        value = self.headers.get(hdrs.CONTENT_LENGTH)
        return int(value) if value is not None and value.isdigit() else None

    async def read(self) -> bytes:
        if self._body is not None:
            return self._body
        content = self.content
        if content.is_eof():
            # The whole body came with the head, as small answers do: take it without awaiting.
            return content.read_nowait()
        return await content.read()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """The connection back to the pool when the answer was read whole, else closed."""
        self._pool.release(self._protocol)


class UpstreamPool:
    """Keep-alive connections to one `http://host:port` upstream."""

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(base_url)
        if not self.serves(base_url) or parts.hostname is None:
            raise ValueError(f"UpstreamPool serves plain http://host[:port] URLs, not {base_url}")
        self._host = parts.hostname
        self._port = parts.port or 80
        # The Host header aiohttp would send: the default port is left out.
        host = f"[{self._host}]" if ":" in self._host else self._host
        host_line = f"Host: {host}:{parts.port}\r\n" if parts.port else f"Host: {host}\r\n"
        self._host_line = host_line.encode("utf-8", "surrogateescape")
        # A base path (`http://host/prefix`) is put before every request target, as the URL
        # join `base + raw_path` does.
        self._prefix = parts.path
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: list[UpstreamProtocol] = []
        self._closed = False

    @staticmethod
    def serves(base_url: str) -> bool:
        """Whether this client can reach `base_url` (plain http, no credentials in the URL)."""
        parts = urlsplit(base_url)
        return (
            parts.scheme == "http"
            and "@" not in parts.netloc
            and parts.hostname is not None
            and not parts.query
            and not parts.fragment
        )

    def idle_connection(self) -> UpstreamProtocol | None:
        """An open pooled connection, taken from the pool; None when none is idle. One the
        upstream closed, or sent bytes on while idle (they would be read as the next answer),
        is closed instead."""
        idle = self._idle
        while idle:
            candidate = idle.pop()
            if reusable(candidate):
                return candidate
            close_connection(candidate)
        return None

    async def _connect(self) -> UpstreamProtocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: new_response_protocol(loop), self._host, self._port
                )
        except OSError as exc:
            raise UpstreamConnectError(self._host, self._port, exc) from exc
        return protocol

    def release(self, protocol: UpstreamProtocol) -> None:
        """Back to the pool when the exchange ended cleanly, closed otherwise."""
        if self._closed or not reusable(protocol):
            close_connection(protocol)
        elif len(self._idle) < MAX_IDLE:
            self._idle.append(protocol)
        else:
            close_connection(protocol)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for protocol in idle:
            close_connection(protocol)

    async def request(
        self, method: str, target: str, headers: CIMultiDict[str] | bytes, body: bytes | None
    ) -> UpstreamResponse:
        """Send one request (`target`: raw path and query; `headers`: a multidict, or the header
        lines as bytes without the Content-Length `own_length` gives) and wait for the response
        head; the body is then read from `content`.

        Raises what aiohttp's client raises once connected (ServerDisconnectedError,
        ServerTimeoutError, ClientOSError), UpstreamProtocolError for a malformed answer,
        UpstreamConnectError or TimeoutError when no connection could be opened.
        """
        # Not `or`: a protocol is also aiohttp's response queue, falsy while empty.
        protocol = self.idle_connection()
        if protocol is None:
            protocol = await self._connect()
        try:
            self.send(protocol, method, self.head(method, target, headers, body), body)
            while True:
                message, payload = await next_response(protocol)
                # Interim 1xx answers (except 101) precede the real one, as aiohttp skips them.
                if not 100 <= message.code <= 199 or message.code == 101:
                    break
        except HttpProcessingError as exc:
            close_connection(protocol)
            raise UpstreamProtocolError(f"upstream sent a malformed response: {exc}") from exc
        except BaseException:
            close_connection(protocol)
            raise
        return UpstreamResponse(
            self,
            protocol,
            message.code,
            message.reason,
            message.headers,
            message.raw_headers,
            payload,
        )

    def send(
        self, protocol: UpstreamProtocol, method: str, head: bytes, body: bytes | None
    ) -> None:
        """Write a request on `protocol` and start its response's read timeout; the response
        then goes to the protocol's listener, or its queue."""
        transport = transport_of(protocol)
        assert transport is not None, "a fresh or pooled connection is open"
        read_response_head(
            protocol,
            head_only=method == "HEAD",
            read_timeout=self._read_timeout,
            read_bufsize=READ_CHUNK,
            max_field_size=MAX_HEADER_BYTES,
        )
        transport.write(head + body if body else head)
        start_read_timeout(protocol)

    def head(
        self, method: str, target: str, headers: CIMultiDict[str] | bytes, body: bytes | None
    ) -> bytes:
        """The request line and headers as bytes, with the body's own Content-Length."""
        length = own_length(method, body)
        if not isinstance(headers, bytes):
            headers = header_lines(headers, drop_length=length is not None)
        return self.head_of(method, target, headers, length)

    def head_of(self, method: str, target: str, lines: bytes, length: bytes | None) -> bytes:
        """The request line, `lines` and the Content-Length `length` (own_length's) as bytes."""
        # aiohttp's server decoded the target this way; this gives the same bytes back.
        line = f"{method} {self._prefix}{target} HTTP/1.1\r\n".encode("utf-8", "surrogateescape")
        if length is None:
            return b"".join((line, self._host_line, lines, b"\r\n"))
        return b"".join((line, self._host_line, lines, b"Content-Length: ", length, b"\r\n\r\n"))


def own_length(method: str, body: bytes | None) -> bytes | None:
    """The Content-Length the pool sends: the body's (read whole); without a body, aiohttp's
    rule: methods that normally carry one say 0, the others send the client's header as is."""
    if body is not None:
        return b"%d" % len(body)
    if method not in _BODILESS:
        return b"0"
    return None


def header_lines(headers: CIMultiDict[str], *, drop_length: bool) -> bytes:
    """`headers` as request header lines; without Content-Length when `drop_length` (the pool
    adds the body's own)."""
    lines = [
        f"{name}: {value}\r\n"
        for name, value in headers.items()
        if not drop_length or name.lower() != "content-length"
    ]
    # aiohttp's server decoded the incoming headers this way; this gives the same bytes back.
    return "".join(lines).encode("utf-8", "surrogateescape")
