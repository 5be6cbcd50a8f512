"""The fast lane: the proxy's usual exchange carried by callbacks from aiohttp's parsers, with
no request or response object, Task, stream read or await per request.

Usual means a request from an HTTP/1.1 keep-alive client, with an origin-form target, no
`Expect` and a small body sized by Content-Length that arrived whole, while a connection to a
plain-HTTP upstream is idle in the pool; and an answer whose small, sized body arrives whole
with its head and can be relayed in one write. The lane does what handler.py does for it, in
the same order and with the same pieces: the capture decision (capture/policy.py), the head from
the raw header bytes (raw_heads.py), one `transport.write` of the answer, then the counts and
the capture staging (ledger.py). Whatever leaves that path goes to the handler at the point
reached: before the request is sent, the request as it came; after, the exchange with its
answer or its failure (handoff.py). The proxy's tests run every exchange through whichever path
takes it.
"""

from __future__ import annotations

import time
from typing import Protocol

from aiohttp import HttpVersion11
from aiohttp.helpers import must_be_empty_body, rfc822_formatted_time
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EmptyStreamReader

from sidecar.capture.policy import CapturePolicy
from sidecar.common.exchange import Exchange
from sidecar.proxy.aiohttp_internals import (
    RawRequestMessage,
    RawResponseMessage,
    StreamReader,
    UpstreamProtocol,
    close_connection,
    whole_body,
)
from sidecar.proxy.handoff import BUFFER_LIMIT, IDEMPOTENT, Handoff
from sidecar.proxy.ledger import Ledger
from sidecar.proxy.raw_heads import NamesInConnection, answer_head, request_lines
from sidecar.proxy.request_tee import Outgoing
from sidecar.proxy.upstream_pool import (
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
    own_length,
)

_EVENT_STREAM = "text/event-stream"


class LaneHost(Protocol):
    """What the lane uses of the proxy (handler.Proxy)."""

    pool: UpstreamPool | None

    @property
    def policy(self) -> CapturePolicy: ...

    @property
    def ledger(self) -> Ledger: ...


class LaneClient(Protocol):
    """The client connection an exchange answers (traffic_server.TrafficProtocol)."""

    @property
    def peer(self) -> str: ...

    def write(self, data: bytes) -> bool: ...

    def answered(self) -> None: ...

    def hand_over(
        self, message: RawRequestMessage, payload: StreamReader, handoff: Handoff | None
    ) -> None: ...


def usual_request(message: RawRequestMessage, payload: StreamReader) -> bool:
    """Whether the lane can send this request as it is (the pool is asked next)."""
    return (
        message.version == HttpVersion11
        and not message.should_close
        and not message.upgrade
        and not message.chunked
        and message.path[:1] == "/"
        and message.method != "CONNECT"
        and payload.is_eof()
        and payload.total_bytes <= BUFFER_LIMIT
        and "Expect" not in message.headers
    )


class FastLane:
    """Starts lane exchanges for the proxy `host` (and settles one handed over that the
    handler never took)."""

    def __init__(self, host: LaneHost) -> None:
        self._host = host

    def start(
        self, client: LaneClient, message: RawRequestMessage, payload: StreamReader
    ) -> LaneExchange | None:
        """Send `message` upstream when it is usual and a pooled connection is idle: the
        exchange in flight; None when the handler should take the request as it came."""
        host = self._host
        pool = host.pool
        if pool is None or not usual_request(message, payload):
            return None
        upstream = pool.idle_connection()
        if upstream is None:
            return None
        try:
            return self._send(client, message, payload, pool, upstream)
        except BaseException:
            close_connection(upstream)  # a fault before sending: the handler starts afresh
            raise

    def _send(
        self,
        client: LaneClient,
        message: RawRequestMessage,
        payload: StreamReader,
        pool: UpstreamPool,
        upstream: UpstreamProtocol,
    ) -> LaneExchange | None:
        method = message.method
        body = None if isinstance(payload, EmptyStreamReader) else whole_body(payload)
        length = own_length(method, body)
        try:
            lines = request_lines(message.raw_headers, client.peer, "http", length is not None)
        except NamesInConnection:
            pool.release(upstream)  # hop_by_hop.py's multidict path reads those names
            return None
        host = self._host
        exchange = Exchange(time.time(), "", time.perf_counter())
        target = message.path
        exchange.path = target.partition("?")[0]
        decision = host.policy.decide(method, exchange.path, message.headers)
        exchange.capture, exchange.inference_id = decision.capture, decision.inference_id
        outgoing = Outgoing(target, body, hold=decision.hold)
        lane = LaneExchange(host, pool, client, message, payload, exchange, outgoing, upstream)
        upstream.listener = lane
        lane.sent = time.perf_counter()
        try:
            pool.send(upstream, method, pool.head_of(method, target, lines, length), body)
        except Exception as exc:
            lane.response_failed(exc)  # handed over now
            return None
        return lane

    def abandon(self, handoff: Handoff) -> None:
        """A handed-over exchange whose client went away before the handler took it: counted
        as the handler counts a client gone, its upstream request closed, its share given
        back."""
        if handoff.response is not None:
            handoff.response.release()
        self._host.ledger.client_gone(handoff.exchange)
        if handoff.outgoing.hold is not None:
            handoff.outgoing.hold.release()


class LaneExchange:
    """One exchange in the lane, from the request sent to the answer written."""

    __slots__ = (
        "_client",
        "_host",
        "_message",
        "_payload",
        "_pool",
        "_upstream",
        "exchange",
        "outgoing",
        "sent",
    )

    def __init__(
        self,
        host: LaneHost,
        pool: UpstreamPool,
        client: LaneClient,
        message: RawRequestMessage,
        payload: StreamReader,
        exchange: Exchange,
        outgoing: Outgoing,
        upstream: UpstreamProtocol,
    ) -> None:
        self._host = host
        self._pool = pool
        self._client = client
        self._message = message
        self._payload = payload
        self._upstream: UpstreamProtocol | None = upstream
        self.exchange = exchange
        self.outgoing = outgoing
        self.sent = 0.0

    def response_arrived(self, message: RawResponseMessage, payload: StreamReader) -> None:
        """The upstream's answer head: written here when whole and small, else handed over."""
        try:
            answer = self._whole_answer(message, payload)
        except Exception as exc:
            # A fault of ours before the answer: the handler's last resort answers it (500).
            self.response_failed(exc)
            return
        if answer is None:
            return
        head, body, content_type = answer
        exchange = self.exchange
        if not self._client.write(head + body if body else head):
            exchange.truncated = True
        ledger = self._host.ledger
        try:
            ledger.count(exchange, message.code)
            upstream, self._upstream = self._upstream, None
            assert upstream is not None, "answered once"
            self._pool.release(upstream)
            ledger.keep_request(self._message.headers, exchange, self.outgoing)
            if exchange.capture.sampled:
                ledger.stage(exchange, content_type, body)
            ledger.gen_ai.observe_response(content_type, body)
        except Exception as exc:
            # The client has its answer; what is lost is said in the log.
            ledger.fault(exc)
        finally:
            self._release_hold()
            self._client.answered()

    def _whole_answer(
        self, message: RawResponseMessage, payload: StreamReader
    ) -> tuple[bytes, bytes, str] | None:
        """(head, body, content type) of an answer to write in one; None when it is handed
        over (to stream, or to relay the aiohttp way)."""
        exchange = self.exchange
        self._host.ledger.upstream_answered(exchange, self.sent)
        status = message.code
        headers = message.headers
        content_type = headers.get("Content-Type", "")
        length = headers.get("Content-Length")
        if (
            length is None
            or not length.isdigit()
            or int(length) > BUFFER_LIMIT
            or not payload.is_eof()
            or content_type.startswith(_EVENT_STREAM)
            or must_be_empty_body(self._message.method, status)
        ):
            self._hand_over(Handoff(exchange, self.outgoing, self._response(message, payload)))
            return None
        body = whole_body(payload)
        try:
            head = answer_head(
                status, message.reason, message.raw_headers, body, True, rfc822_formatted_time()
            )
        except (NamesInConnection, ValueError):
            # hop_by_hop.py's path reads the names in Connection, or answers 502.
            response = self._response(message, payload, body)
            self._hand_over(Handoff(exchange, self.outgoing, response))
            return None
        return head, body, content_type

    def response_failed(self, exc: BaseException) -> None:
        """No answer came (closed, timed out, malformed; or a fault of ours): the handler
        answers the failure."""
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            close_connection(upstream)
        if isinstance(exc, HttpProcessingError):
            exc = UpstreamProtocolError(f"upstream sent a malformed response: {exc}")
        retry = self._message.method in IDEMPOTENT
        self._hand_over(Handoff(self.exchange, self.outgoing, failure=exc, retry=retry))

    def abandon(self) -> None:
        """The client went away before its answer: counted, and the upstream request closed,
        as a cancelled handler closes it."""
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.listener = None
            close_connection(upstream)
        self._host.ledger.client_gone(self.exchange)
        self._release_hold()

    def _response(
        self, message: RawResponseMessage, payload: StreamReader, body: bytes | None = None
    ) -> UpstreamResponse:
        upstream, self._upstream = self._upstream, None
        assert upstream is not None, "answered once"
        return UpstreamResponse(
            self._pool,
            upstream,
            message.code,
            message.reason,
            message.headers,
            message.raw_headers,
            payload,
            body,
        )

    def _hand_over(self, handoff: Handoff) -> None:
        self._client.hand_over(self._message, self._payload, handoff)

    def _release_hold(self) -> None:
        hold = self.outgoing.hold
        if hold is not None:
            hold.release()
