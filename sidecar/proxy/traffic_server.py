"""The traffic port's HTTP server: aiohttp's low-level server with client limits (header
timeout, connection cap) and quiet answers to malformed requests: a counted JSON 4xx, at most
one log line per reason per interval, never a header value (aiohttp's own error path logs the
parser's message, which quotes the offending header, and answers with it).

What it needs of aiohttp's internals (the connection's request queue) goes through
aiohttp_internals.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from sidecar.common.logs import Throttle
from sidecar.metrics import SidecarMetrics
from sidecar.proxy.aiohttp_internals import (
    LaneRequestHandler,
    RawRequestMessage,
    StreamReader,
    detach_from_server,
    last_request_body,
    protocol_arguments,
    request_in_progress,
    requests_queued,
)
from sidecar.proxy.answers import ThrottledLog, raised_at
from sidecar.proxy.fast_lane import FastLane, LaneExchange
from sidecar.proxy.handoff import Handoff, HandsOver

log = logging.getLogger("sidecar.server")

_ERRORS = {400: "bad_request", 413: "payload_too_large", 431: "headers_too_large"}


@dataclass(frozen=True, slots=True)
class ClientLimits:
    header_timeout: float
    max_connections: int


def error_response(status: int, error: str, reason: str) -> web.Response:
    """A JSON answer the sidecar gives itself, on a connection then closed."""
    body = orjson.dumps({"error": error, "reason": reason})
    response = web.Response(status=status, body=body, content_type="application/json")
    response.force_close()
    return response


class TrafficServer(Server):
    """`web.Server` whose connections are `TrafficProtocol`s sharing one count and one log,
    and the fast lane (`lane`, None to send every request to `handler`)."""

    def __init__(
        self,
        handler: Any,
        *,
        limits: ClientLimits,
        metrics: SidecarMetrics,
        lane: FastLane | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.lane = lane
        self.limits = limits
        self.metrics = metrics
        self.open_connections = 0
        self.error_log = ThrottledLog(log)
        self._header_timeouts = metrics.client_timeouts.labels("header")

    def __call__(self) -> RequestHandler:
        return TrafficProtocol(self, **protocol_arguments(self))

    def count_header_timeout(self) -> None:
        self._header_timeouts.inc()
        self.error_log.warning("client too slow sending request headers", "header_timeout")


class TrafficProtocol(LaneRequestHandler, HandsOver):
    """One client connection: refused past the cap, closed when its headers are too slow; its
    usual requests go to the fast lane, the others (and those the lane hands over) to the
    handler task."""

    __slots__ = (
        "_accepted",
        "_answering",
        "_head_timer",
        "_lane",
        "_payload",
        "_traffic",
        "handoff",
        "peer",
    )

    def __init__(self, manager: TrafficServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._traffic = manager
        self._accepted = False
        self._head_timer: asyncio.TimerHandle | None = None
        # The body of the last request parsed, to tell body bytes from the next head's.
        self._payload: StreamReader | None = None
        self._lane: LaneExchange | None = None
        # Set while a lane answer's bookkeeping runs inside the upstream's callback: a request
        # parsed meanwhile waits for the next turn of the loop (it could take the same upstream
        # connection before that callback is done with it).
        self._answering = False
        self.handoff: Handoff | None = None
        self.peer = ""  # the client's address, for X-Forwarded-For

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._traffic
        if server.open_connections >= server.limits.max_connections:
            # Never registered with the server: connection_lost then has nothing to undo.
            detach_from_server(self)
            transport.close()
            server.metrics.connections_rejected.inc()
            return
        self._accepted = True
        server.open_connections += 1
        server.metrics.client_connections.inc()
        super().connection_made(transport)
        # As aiohttp's BaseRequest.remote reads it.
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, list | tuple) else str(peer or "")
        self._arm_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        lane, handoff = self._lane, self.handoff
        if lane is not None:
            self._lane = None
            lane.abandon()
            self.request_gone()
        elif handoff is not None and self._traffic.lane is not None:
            # Handed over, and the client went away before the handler took it: counted here,
            # and marked, in case the handler task still starts on it.
            handoff.settled = True
            self._traffic.lane.abandon(handoff)
        if self._accepted:
            self._accepted = False
            self._traffic.open_connections -= 1
            self._traffic.metrics.client_connections.dec()
        self._cancel_head_timer()
        super().connection_lost(exc)

    def requests_parsed(self) -> None:
        if self._answering:
            return  # `answered` looks at the queue once it is done
        body = last_request_body(self)
        if body is not None:
            self._payload = body
            self._cancel_head_timer()
        elif self._head_timer is None and self._awaiting_head():
            self._arm_head_timer()
        lane = self._traffic.lane
        if lane is not None and self._lane is None and not self.writing_paused:
            request = self.next_request()
            if request is not None:
                # Taken first: reading its body may re-enter data_received.
                self.take_request()
                started = None
                try:
                    started = lane.start(self, *request)
                except Exception as exc:
                    # A fault of ours before the request was sent: logged, and the handler
                    # takes the request from the start (its last resort answers a fault).
                    self._traffic.error_log.warning(
                        "request failed inside the sidecar", "internal_error", at=raised_at(exc)
                    )
                if not request_in_progress(self):
                    return  # handed over already, with how far it got
                if started is None:
                    self.hand_back(*request)
                else:
                    self._lane = started
                return
        self.wake_handler()

    # -- the fast lane's client side (fast_lane.LaneClient) --

    def write(self, data: bytes) -> bool:
        """Write an answer; False when the client has gone."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        return True

    def answered(self) -> None:
        """The lane's exchange is answered: the next request (pipelined, rare) is looked at
        once the parser callbacks that ended this one have returned."""
        self._lane = None
        self._answering = True
        try:
            self.request_done()
        finally:
            self._answering = False
            if requests_queued(self):
                self._loop.call_soon(self.requests_parsed)

    def hand_over(
        self, message: RawRequestMessage, payload: StreamReader, handoff: Handoff | None
    ) -> None:
        """The lane's exchange goes on in the handler task, as its next request."""
        self._lane = None
        self.handoff = handoff
        self.hand_back(message, payload)

    def _awaiting_head(self) -> bool:
        """No request queued or running and the last one's body complete: bytes now are the
        start of a new request head."""
        payload = self._payload
        return (
            not requests_queued(self)
            and not request_in_progress(self)
            and (payload is None or payload.is_eof())
        )

    def _arm_head_timer(self) -> None:
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_at(
            loop.time() + self._traffic.limits.header_timeout, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head() or self.transport is None:
            return
        self._traffic.count_header_timeout()
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse (or a handler failure): JSON,
        counted, logged without the parser's message (it quotes the offending header)."""
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; the connection is closed")
        if isinstance(exc, LineTooLong):
            # A header (or the request line) past 64 KiB (MAX_HEADER_BYTES): 431, not 400.
            status = 431
        self._traffic.metrics.requests.labels(str(status)).inc()
        kind = type(exc).__name__ if exc is not None else "error"
        error = _ERRORS.get(status, "bad_request" if status < 500 else "internal_error")
        self._traffic.error_log.warning(
            "malformed request" if status < 500 else "request failed", kind, status=status
        )
        return error_response(status, error, kind)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, BaseException):
            self._traffic.error_log.warning(
                "request handling failed", type(exc).__name__, at=raised_at(exc)
            )
        else:
            self._traffic.error_log.warning("request handling failed", "unknown")


class QuietServerLogs(logging.Filter):
    """For aiohttp's server loggers on ports without TrafficProtocol (the admin port): drops the
    exception (its message can quote a header value) and lets one line per interval through."""

    def __init__(self, interval: float = 5.0) -> None:
        super().__init__()
        self._throttle = Throttle(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is None:
            return True
        exc = record.exc_info[1]
        record.exc_info = None
        record.exc_text = None
        occurrences = self._throttle.add(1)
        if not occurrences:
            return False
        record.msg = "request handling failed"
        record.args = ()
        where = raised_at(exc) if exc is not None else ""
        record.fields = {"error": type(exc).__name__, "at": where, "occurrences": occurrences}
        return True


def quiet_server_logs() -> None:
    """Install QuietServerLogs on aiohttp's server logger (once per process)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietServerLogs) for f in logger.filters):
        logger.addFilter(QuietServerLogs())
