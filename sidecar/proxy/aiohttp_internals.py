"""Every use of aiohttp's private internals, in one module, checked against one aiohttp release.

The proxy leans on parts of aiohttp that are not its public API: the traffic server reads its
connection protocol's request queue to time request heads and lets the fast lane take requests
off it (traffic_server.py, fast_lane.py), and the lean upstream client drives aiohttp's client
response protocol (C parser, read timeout, flow control) without ClientSession, by await or by
callback (upstream_pool.py). Nothing else in the sidecar names a private aiohttp attribute or
module. Importing this module checks the installed aiohttp against the releases these
internals were read from, and that each one is still there: a new release breaks this file at
start-up, loudly, rather than a request at random. tests/sidecar/proxy/test_aiohttp_internals.py
and test_lane_internals.py hold one test per internal; a new one goes here with its test (and
its name in `INTERNALS`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, cast

import aiohttp
from aiohttp import web
from aiohttp.client_proto import ResponseHandler as ResponseHandler
from aiohttp.helpers import _EXC_SENTINEL
from aiohttp.http_parser import RawRequestMessage as RawRequestMessage
from aiohttp.http_parser import RawResponseMessage as RawResponseMessage
from aiohttp.streams import EmptyStreamReader
from aiohttp.streams import StreamReader as StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from sidecar.errors import SidecarError

# The aiohttp releases (major, minor) whose internals this module was written against.
SUPPORTED_RELEASES = ((3, 14),)
# (class, attribute) for every private name used below, checked at import.
INTERNALS: tuple[tuple[type, str], ...] = tuple(
    (owner, name)
    for owner, names in (
        (
            RequestHandler,
            "_manager _messages _request_in_progress _waiter _handler_waiter _keepalive_handle"
            " _keepalive_timeout _next_keepalive_close_time _process_keepalive"
            " _msg_queue_resume_size _resume_reading_if_drained _force_close _close _parser"
            " _buffer_paused _reading_paused",
        ),
        (StreamReader, "_buffer _buffer_offset _protocol _exception"),
        (
            ResponseHandler,
            "set_response_params start_timeout read should_close is_connected close transport"
            " _drop_timeout _reschedule_timeout _on_read_timeout",
        ),
        (web.BaseRunner, "_make_server _cleanup_server"),
    )
    for name in names.split()
)
# Instance attributes set by __init__ (no slots to look them up in): Server's `_loop` and
# `_kwargs`, BaseRunner's `_kwargs`, ResponseHandler's `_loop`, `_parser`, `_skip_payload` and
# `_read_timeout`; their tests make instances.


class UnsupportedAiohttp(SidecarError, ImportError):
    """The installed aiohttp is not a release whose internals the proxy was written against."""


def _release(version: str) -> tuple[int, int]:
    major, minor, *_ = (int(part) if part.isdigit() else -1 for part in version.split("."))
    return major, minor


def _has(owner: type, name: str) -> bool:
    slots = (slot for klass in owner.__mro__ for slot in getattr(klass, "__slots__", ()))
    return hasattr(owner, name) or name in set(slots)


def check_release(version: str = aiohttp.__version__) -> None:
    """Raise UnsupportedAiohttp unless `version` is a supported release with every internal."""
    if _release(version) not in SUPPORTED_RELEASES:
        supported = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED_RELEASES)
        raise UnsupportedAiohttp(
            f"aiohttp {version} is installed; the sidecar's proxy relies on internals of aiohttp "
            f"{supported} (sidecar/proxy/aiohttp_internals.py): install a supported release"
        )
    missing = [f"{owner.__name__}.{name}" for owner, name in INTERNALS if not _has(owner, name)]
    if missing:
        raise UnsupportedAiohttp(f"aiohttp {version} lacks {', '.join(missing)}")


check_release()


# -- the server side: aiohttp's per-connection RequestHandler ------------------------------


def protocol_arguments(server: Server) -> dict[str, Any]:
    """What `Server.__call__` passes a new connection's RequestHandler besides the server: its
    loop and the handler options given to the server (timeouts, limits, access log)."""
    return {"loop": server._loop, **server._kwargs}


def detach_from_server(protocol: RequestHandler) -> None:
    """A connection refused before it is registered: its `connection_lost` then has no server
    to report to."""
    protocol._manager = None


def requests_queued(protocol: RequestHandler) -> int:
    """Requests parsed on this connection and not yet handed to the handler task."""
    return len(protocol._messages)


def last_request_body(protocol: RequestHandler) -> StreamReader | None:
    """The body stream of the last request parsed and queued, None when the queue is empty."""
    messages = protocol._messages
    return messages[-1][1] if messages else None


def request_in_progress(protocol: RequestHandler) -> bool:
    """Whether the handler is working on a request of this connection."""
    return bool(protocol._request_in_progress)


class LaneRequestHandler(RequestHandler):
    """aiohttp's server protocol with a lane beside its handler task. Parsed requests are
    queued without waking the task; `requests_parsed` (the subclass's) may take the first
    (`next_request`, `take_request`) while the task idles, and what it leaves goes to the task
    (`wake_handler`, `hand_back`). A taken request counts as in progress, as aiohttp's own do:
    graceful shutdown waits for it and the keep-alive timer does not close under it."""

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        self._waiter = None  # hidden, so that aiohttp queues what it parses without waking
        try:
            super().data_received(data)
        finally:
            self._waiter = waiter
        self.requests_parsed()

    def requests_parsed(self) -> None:
        self.wake_handler()

    def next_request(self) -> tuple[RawRequestMessage, StreamReader] | None:
        """The first queued request, when it parsed cleanly and the handler task is idle."""
        messages = self._messages
        if not messages or self._request_in_progress:
            return None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return None
        message, payload = messages[0]
        return (message, payload) if isinstance(message, RawRequestMessage) else None

    def take_request(self) -> None:
        """Take the request `next_request` returned off the queue: it is in progress."""
        self._messages.popleft()
        self._request_in_progress = True

    def hand_back(self, message: RawRequestMessage, payload: StreamReader) -> None:
        """Give a taken request to the handler task, to be handled next."""
        self._messages.appendleft((message, payload))
        self._request_in_progress = False
        self.wake_handler()

    def wake_handler(self) -> None:
        """Wake the idle handler task for the queued requests, unless one is taken."""
        waiter = self._waiter
        if (
            self._messages
            and not self._request_in_progress
            and waiter is not None
            and not waiter.done()
        ):
            waiter.set_result(None)

    def request_done(self) -> None:
        """A taken request answered: what aiohttp's task does after a request (parser slot
        freed, shutdown told, the keep-alive timer restarted, or the connection closed when a
        shutdown asked it to close)."""
        self.request_gone()
        if self._parser is not None:
            self._parser.message_consumed()
        if self._close or self._force_close:
            super().close()  # the idle handler task ends
            if self.transport is not None:
                self.transport.close()
            return
        if self._buffer_paused and len(self._messages) <= self._msg_queue_resume_size:
            self._resume_reading_if_drained()
        if self._keepalive_timeout > 0:
            loop = self._loop
            self._next_keepalive_close_time = close_time = loop.time() + self._keepalive_timeout
            if self._keepalive_handle is None:
                self._keepalive_handle = loop.call_at(close_time, self._process_keepalive)

    @property
    def _lane_holds_request(self) -> bool:
        # In progress while aiohttp's handler task idles: a request taken off its queue.
        return bool(self._request_in_progress) and self._waiter is not None

    def close(self) -> None:
        """aiohttp's `close` (a graceful stop) ends the idle handler task at once; with a
        request taken it ends once that request is done, so the task is still there to finish
        it if the lane hands it over."""
        if self._lane_holds_request:
            self._close = True
            return
        super().close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:  # noqa: ASYNC109 (aiohttp's)
        """aiohttp's graceful shutdown, within `timeout` in all when the lane holds a request:
        that request is waited for first (answered, or handed to the handler task and finished
        there), then aiohttp stops the connection in the time left. One still held by then is
        given up: its connection is closed, as aiohttp cancels a handler that overruns."""
        if timeout and self._lane_holds_request:
            loop = self._loop
            started = loop.time()
            self._handler_waiter = done = loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await done
            except TimeoutError:
                pass
            finally:
                self._handler_waiter = None
            if self._lane_holds_request:
                self.force_close()
            # Never 0, which aiohttp reads as no limit.
            timeout = max(timeout - (loop.time() - started), 0.01)
        await super().shutdown(timeout)

    def request_gone(self) -> None:
        """A taken request ended (answered, or its connection lost)."""
        self._request_in_progress = False
        waiter = self._handler_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # graceful shutdown waits for this

    def _process_keepalive(self) -> None:
        if self._request_in_progress:
            self._keepalive_handle = None  # restarted when the request is done
            return
        super()._process_keepalive()


def whole_body(payload: StreamReader) -> bytes:
    """The bytes of a payload that arrived whole (`is_eof()`), left in place. `read_nowait`
    would end in `resume_reading`, which re-enters the parser: a round trip flow control
    needs only when the connection paused for this body, so then it is made."""
    if isinstance(payload, EmptyStreamReader):
        return b""
    if payload._exception is not None:
        raise payload._exception
    chunks = payload._buffer
    if payload._protocol._reading_paused or payload._buffer_offset or len(chunks) > 1:
        return payload.read_nowait()
    return chunks[0] if chunks else b""


class SentResponse:
    """What the handler returns for an answer it has written to the transport itself.
    RequestHandler.finish_response (with no access log) only awaits `prepare(request)` and
    `write_eof()`, no-ops here, and then reads `keep_alive`."""

    __slots__ = ("keep_alive",)

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self) -> None:
        return None


def sent_response(keep_alive: bool) -> web.StreamResponse:
    """The handler's return value for an answer already written (see SentResponse)."""
    return cast(web.StreamResponse, SentResponse(keep_alive))


# -- the client side: aiohttp's ResponseHandler without ClientSession ----------------------


class UpstreamProtocol(ResponseHandler):
    """aiohttp's client protocol for a pooled upstream connection. Its next response goes to
    `read()`'s queue, or to `listener` when one is set (the fast lane's callbacks).

    Its read timeout is as one deadline per connection: a read
    moves the deadline, and a single timer, re-armed only when it fires early, compares. aiohttp
    cancels and schedules a timer at the request and again at every read (`call_later` and
    `cancel` twice a request); the timeout fires at the same moment either way."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._deadline: float | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        # When set, the next response goes to it instead of the queue `read()` awaits.
        self.listener: ResponseListener | None = None

    def feed_data(self, data: tuple[RawResponseMessage, StreamReader], size: int = 0) -> None:
        listener = self.listener
        if listener is None:
            super().feed_data(data, size)
            return
        message, payload = data
        if 100 <= message.code <= 199 and message.code != 101:
            return  # an interim answer: the real one follows, as aiohttp's client skips it
        self.listener = None
        listener.response_arrived(message, payload)

    def set_exception(self, exc: BaseException, exc_cause: BaseException = _EXC_SENTINEL) -> None:
        super().set_exception(exc, exc_cause)
        listener = self.listener
        if listener is not None:
            self.listener = None
            listener.response_failed(exc)

    def _drop_timeout(self) -> None:
        self._deadline = None

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        if not timeout:
            self._deadline = None
            return
        self._deadline = deadline = self._loop.time() + timeout
        if self._deadline_timer is None:
            self._deadline_timer = self._loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._deadline_timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if self._loop.time() < deadline:
            self._deadline_timer = self._loop.call_at(deadline, self._check_deadline)
            return
        self._deadline = None
        self._on_read_timeout()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        super().connection_lost(exc)


class ResponseListener(Protocol):
    """Told the next response head (interim 1xx answers skipped), or why none came."""

    def response_arrived(self, message: RawResponseMessage, payload: StreamReader) -> None: ...

    def response_failed(self, exc: BaseException) -> None: ...


def new_response_protocol(loop: asyncio.AbstractEventLoop) -> UpstreamProtocol:
    """A client connection protocol for `loop.create_connection`."""
    return UpstreamProtocol(loop)


def read_response_head(
    protocol: ResponseHandler,
    *,
    head_only: bool,
    read_timeout: float,
    read_bufsize: int,
    max_field_size: int,
) -> None:
    """Make `protocol` parse the next response (no decompression, body read to the connection's
    end when unsized) and start its read timeout; await `next_response` for it.

    aiohttp makes a new parser per request. A kept connection's parser, done with its last
    response, parses the next one as well (as the server's does on a keep-alive connection),
    so it is made again only when the connection has none or the request's kind changes."""
    if (
        protocol._parser is not None
        and protocol._skip_payload == head_only
        and protocol._read_timeout == read_timeout
    ):
        return
    protocol.set_response_params(
        skip_payload=head_only,
        read_until_eof=True,
        auto_decompress=False,
        read_timeout=read_timeout,
        read_bufsize=read_bufsize,
        max_line_size=max_field_size,
        max_field_size=max_field_size,
    )


def start_read_timeout(protocol: ResponseHandler) -> None:
    """Start the read timeout once the request is written."""
    protocol.start_timeout()


async def next_response(protocol: ResponseHandler) -> tuple[RawResponseMessage, StreamReader]:
    """The next response head parsed on `protocol` and its body stream."""
    message, payload = await protocol.read()
    return message, payload


def reusable(protocol: ResponseHandler) -> bool:
    """Whether the connection can carry another request (open, and no `Connection: close`)."""
    return protocol.is_connected() and not protocol.should_close


def connected(protocol: ResponseHandler) -> bool:
    return protocol.is_connected()


def close_connection(protocol: ResponseHandler) -> None:
    protocol.close()


def transport_of(protocol: ResponseHandler) -> asyncio.Transport | None:
    return protocol.transport


# -- the runner: an application's resources around a low-level server ----------------------


class AppServerRunner(web.BaseRunner):
    """Serves the low-level server `make_server(**server options)` returns, while `app` only
    owns the resources: started (cleanup contexts) before the server is made, cleaned up after
    it stops. aiohttp's runners offer this only through their private hooks."""

    def __init__(
        self, app: web.Application, make_server: Callable[..., Server], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._app = app
        self._server_factory = make_server

    async def shutdown(self) -> None:
        await self._app.shutdown()

    async def _make_server(self) -> Server:
        self._app.freeze()
        await self._app.startup()
        return self._server_factory(**self._kwargs)

    async def _cleanup_server(self) -> None:
        await self._app.cleanup()
