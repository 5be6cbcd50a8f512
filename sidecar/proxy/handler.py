"""The traffic handler: forward an exchange to the upstream untouched, relay the answer, tee it.

Every request goes to --upstream: only the path and query of its target are used (see
request_target.py; CONNECT is refused). Bodies pass byte-exact (no decompression, no re-encoding;
the server side does not inflate request bodies either, see app.py); hop-by-hop headers are
handled as RFC 9110 section 7.6.1 says. What is captured is decided once, when the request
arrives (capture/policy.py); the copies are handed to capture/capturer.py after the client has
the whole response, and staging never waits. Buffered requests to a plain-HTTP upstream use the
lean client of upstream_pool.py; streamed request bodies and https upstreams use aiohttp's
ClientSession.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from sidecar.capture.budget import CopyHold
from sidecar.capture.capturer import Capturer
from sidecar.capture.policy import CapturePolicy
from sidecar.capture.streams import COMPLETED, StreamCapture, StreamResult, is_event_stream
from sidecar.common.exchange import Exchange
from sidecar.metrics import DROP_PROXY_ERROR, SidecarMetrics
from sidecar.proxy.aiohttp_internals import sent_response
from sidecar.proxy.answers import answer_expect, json_response
from sidecar.proxy.handoff import BUFFER_LIMIT, IDEMPOTENT, Handoff, taken_over
from sidecar.proxy.hop_by_hop import end_to_end, upstream_headers
from sidecar.proxy.ledger import Ledger
from sidecar.proxy.raw_heads import NamesInConnection, pool_lines
from sidecar.proxy.request_target import TargetRefused, UpstreamUrls, upstream_target
from sidecar.proxy.request_tee import Outgoing, RequestTee
from sidecar.proxy.upstream_pool import (
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
    own_length,
)
from sidecar.proxy.whole_response import UNRELAYABLE, fits, prepare, send_whole
from sidecar.settings import Settings

# What an upstream that fails raises, from either client; anything else is a fault of ours.
UPSTREAM_FAILURES = (TimeoutError, aiohttp.ClientError, UpstreamConnectError, UpstreamProtocolError)


class Proxy:
    """The catch-all traffic handler; `session` is set by the app's cleanup context."""

    def __init__(
        self,
        settings: Settings,
        policy: CapturePolicy,
        capturer: Capturer,
        metrics: SidecarMetrics,
    ) -> None:
        self.session: aiohttp.ClientSession | None = None
        # Buffered requests to a plain-HTTP upstream go through this leaner client; set with
        # `session` when the upstream URL allows it.
        self.pool: UpstreamPool | None = None
        self._urls = UpstreamUrls(settings.upstream)
        self._body_timeout = settings.client_body_timeout
        self._body_timeouts = metrics.client_timeouts.labels("body")
        self._policy = policy
        self._ledger = Ledger(capturer, metrics, settings.gen_ai_models)

    @property
    def policy(self) -> CapturePolicy:
        return self._policy

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        handoff = taken_over(request)
        if handoff is not None and handoff.settled:
            return sent_response(keep_alive=False)  # its client went away; counted then
        exchange = handoff.exchange if handoff is not None else Exchange(time.time(), "", 0.0)
        if handoff is None:
            exchange.started = time.perf_counter()
        try:
            if handoff is not None:
                return await self._resume(request, handoff)
            return await self._handle(request, exchange)
        except asyncio.CancelledError:
            # The client hung up before its answer (aiohttp cancels the handler); a stream
            # that was relaying is counted already.
            if exchange.status is None:
                self._ledger.client_gone(exchange)
            raise
        except Exception as exc:
            # The last resort: without it aiohttp answers its own text 500, counted nowhere.
            return self._internal_error(request, exchange, exc)

    async def _resume(self, request: web.BaseRequest, handoff: Handoff) -> web.StreamResponse:
        """Go on with an exchange the fast lane (fast_lane.py) started and handed over where
        it left its usual path: an answer to stream or to write the aiohttp way, or a failure
        (a pooled connection found closed is tried again once, as `_forward` does)."""
        exchange, outgoing = handoff.exchange, handoff.outgoing
        try:
            if handoff.response is not None:
                async with handoff.response as upstream:
                    self._ledger.keep_request(request.headers, exchange, outgoing)
                    return await self._relay(request, upstream, exchange, outgoing.hold)
            failure = handoff.failure
            assert failure is not None, "a handoff carries an answer or a failure"
            if not isinstance(failure, UPSTREAM_FAILURES):
                raise failure  # a fault of ours in the lane: the last resort answers it
            if isinstance(failure, aiohttp.ServerDisconnectedError) and handoff.retry:
                return await self._forward(request, exchange, outgoing, retry=False)
            self._ledger.keep_request(request.headers, exchange, outgoing)
            return self._ledger.failure(exchange, failure)
        finally:
            if outgoing.hold is not None:
                outgoing.hold.release()

    async def _handle(self, request: web.BaseRequest, exchange: Exchange) -> web.StreamResponse:
        if "Expect" in request.headers:
            refusal = await answer_expect(request)
            if refusal is not None:
                self._ledger.count(exchange, refusal.status)
                return refusal
        method = request.method
        target = request.raw_path
        # Cheap test first: nearly every target is a path.
        if target[:1] != "/" or method == "CONNECT":
            try:
                target = upstream_target(method, target)
            except TargetRefused as refused:
                return self._refuse(refused, exchange)
        exchange.path = target.partition("?")[0]
        decision = self._policy.decide(method, exchange.path, request.headers)
        exchange.capture, exchange.inference_id = decision.capture, decision.inference_id
        try:
            return await self._take_body(request, exchange, target, decision.hold)
        finally:
            if decision.hold is not None:
                decision.hold.release()  # whatever happened, the copies are staged or gone

    async def _take_body(
        self, request: web.BaseRequest, exchange: Exchange, target: str, hold: CopyHold | None
    ) -> web.StreamResponse:
        """Read a small request body whole, or stream a large one through a tee; forward."""
        length = request.content_length
        if not request.body_exists:
            outgoing = Outgoing(target, hold=hold)
        elif length is not None and length <= BUFFER_LIMIT:
            content = request.content
            # A small body has usually arrived whole with the head: taken without awaiting.
            if content.is_eof():
                outgoing = Outgoing(target, content.read_nowait(), hold=hold)
            else:
                try:
                    async with asyncio.timeout(self._body_timeout):
                        outgoing = Outgoing(target, await request.read(), hold=hold)
                except TimeoutError:
                    return self._client_timeout(exchange)
        else:
            capture = exchange.capture
            copy = hold if capture.input else None
            tee = RequestTee(request.content, capture.limit, copy, self._body_timeout)
            outgoing = Outgoing(target, tee=tee, hold=hold)
        return await self._forward(request, exchange, outgoing, retry=True)

    async def _forward(
        self, request: web.BaseRequest, exchange: Exchange, outgoing: Outgoing, retry: bool
    ) -> web.StreamResponse:
        """Send the request to the upstream and relay its answer."""
        tee, body, target = outgoing.tee, outgoing.body, outgoing.target
        pool = self.pool if tee is None else None
        pool_head: bytes | CIMultiDict[str] | None = None
        if pool is not None:
            own = own_length(request.method, body) is not None
            pool_head = pool_lines(request, own) or upstream_headers(request)
        session = self.session
        assert session is not None, "the client session starts with the app"
        method = request.method
        # A pooled keep-alive connection the upstream has just closed fails at once with
        # ServerDisconnectedError; a buffered idempotent request is safe to send again, once.
        retry = retry and method in IDEMPOTENT and tee is None
        while True:
            upstream_started = time.perf_counter()
            pending: UpstreamResponse | aiohttp.ClientResponse
            try:
                if pool is not None:
                    assert pool_head is not None, "made with the pool"
                    pending = await pool.request(method, target, pool_head, body)
                else:
                    pending = await session.request(
                        method,
                        self._urls.url(target),
                        headers=upstream_headers(request),
                        data=outgoing.data,
                        allow_redirects=False,
                    )
                async with pending as upstream:
                    self._ledger.upstream_answered(exchange, upstream_started)
                    self._ledger.keep_request(request.headers, exchange, outgoing)
                    return await self._relay(request, upstream, exchange, outgoing.hold)
            except aiohttp.ServerDisconnectedError as exc:
                if retry:
                    retry = False
                    continue
                failure: BaseException = exc
            except UPSTREAM_FAILURES as exc:
                failure = exc
            if tee is not None and tee.timed_out:
                return self._client_timeout(exchange)
            self._ledger.keep_request(request.headers, exchange, outgoing)
            return self._ledger.failure(exchange, failure)

    def _refuse(self, refused: TargetRefused, exchange: Exchange) -> web.Response:
        """A request target the proxy does not forward: answered here, the connection closed
        (a CONNECT's following bytes would be tunnel data)."""
        response = json_response(
            refused.status, {"error": refused.error, "detail": refused.detail}, close=True
        )
        if refused.allow is not None:
            response.headers["Allow"] = refused.allow
        self._ledger.count(exchange, refused.status)
        return response

    def _client_timeout(self, exchange: Exchange) -> web.Response:
        """The client paused mid-body past --client-body-timeout: 408, connection closed."""
        self._body_timeouts.inc()
        self._ledger.error_log.warning("client too slow sending the request body", "body_timeout")
        self._ledger.count(exchange, 408)
        self._ledger.drop(exchange, DROP_PROXY_ERROR)
        detail = "no request body bytes within --client-body-timeout"
        return json_response(408, {"error": "client_timeout", "detail": detail}, close=True)

    def _internal_error(
        self, request: web.BaseRequest, exchange: Exchange, exc: Exception
    ) -> web.Response:
        """A bug or an unforeseen failure on the request path: logged (type and place, never
        its message, which may quote a header), counted, answered 500 while still possible."""
        self._ledger.fault(exc)
        if exchange.status is None:  # not answered, so not staged either
            self._ledger.drop(exchange, DROP_PROXY_ERROR)
        if request.writer.output_size > 0:
            # The status line is sent: all that is left is to end the connection.
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("response already started") from exc
        self._ledger.count(exchange, 500)
        detail = "the sidecar failed to handle this request; see its logs"
        return json_response(500, {"error": "internal_error", "detail": detail}, close=True)

    async def _relay(
        self,
        request: web.BaseRequest,
        upstream: UpstreamResponse | aiohttp.ClientResponse,
        exchange: Exchange,
        hold: CopyHold | None,
    ) -> web.StreamResponse:
        content_type = upstream.headers.get("Content-Type", "")
        length = upstream.content_length
        streaming = (
            length is None or length > BUFFER_LIMIT or content_type.startswith("text/event-stream")
        )
        cancelled = False
        response: web.StreamResponse
        captured: bytes | None
        stream: StreamResult | None = None
        if not streaming:
            captured = await upstream.read()
            response = await self._send(request, upstream, captured, exchange)
        else:
            response, stream, cancelled = await self._stream(
                request, upstream, exchange, content_type, hold
            )
            captured = stream.body
            exchange.truncated = stream.outcome != COMPLETED
            if stream.kind is not None:
                exchange.assembled = stream.assembled
                exchange.extra_metadata = stream.metadata
        self._ledger.count(exchange, upstream.status)
        if exchange.capture.sampled:
            self._ledger.stage(exchange, content_type, captured)
        if stream is None:
            self._ledger.gen_ai.observe_response(content_type, captured)
        elif cancelled:
            raise asyncio.CancelledError  # recorded; now let the cancellation go on
        return response

    async def _send(
        self,
        request: web.BaseRequest,
        upstream: UpstreamResponse | aiohttp.ClientResponse,
        body: bytes,
        exchange: Exchange,
    ) -> web.StreamResponse:
        """Write a buffered answer here, not by aiohttp after return, so capture work after it
        happens once the client has its answer; in one write where whole_response.py can."""
        status, reason = upstream.status, upstream.reason
        if reason is not None and fits(request, status):
            try:
                return await send_whole(request, status, reason, upstream.raw_headers, body)
            except NamesInConnection:
                pass  # hop_by_hop.py reads the names listed in Connection
            except ValueError as exc:
                raise UpstreamProtocolError(UNRELAYABLE) from exc
            except ConnectionError:
                exchange.truncated = True
                return sent_response(keep_alive=False)
        headers = end_to_end(upstream.headers)
        response = web.Response(status=status, reason=reason, headers=headers)
        response.body = body
        try:
            await prepare(response, request)
            await response.write_eof()
        except ConnectionError:
            exchange.truncated = True
        return response

    async def _stream(
        self,
        request: web.BaseRequest,
        upstream: UpstreamResponse | aiohttp.ClientResponse,
        exchange: Exchange,
        content_type: str,
        hold: CopyHold | None,
    ) -> tuple[web.StreamResponse, StreamResult, bool]:
        """Relay chunk by chunk as they arrive, each followed by StreamCapture after it is sent;
        returns (response, what was captured, cancelled). The capture's body is None when it
        outgrew --max-capture-bytes (counted as too_large, never stored empty) or the copy
        budget (`hold`; counted as inflight_full)."""
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=end_to_end(upstream.headers)
        )
        length = upstream.content_length
        capture = exchange.capture
        # Nothing is copied for an exchange already dropped (its request copy outgrew a bound).
        keep = capture.output and exchange.dropped is None
        keep = keep and (length is None or length <= capture.limit)
        tap = StreamCapture(exchange.started, capture.limit, keep, content_type)
        share = hold if keep else None
        # What a chunk costs: its copy and, for an event stream, the assembly's text of it and
        # the assembled answer made from that at the end.
        weight = 3 if is_event_stream(content_type) else 1
        gone = failed = cancelled = False
        try:
            await prepare(response, request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                tap.feed(chunk)
                # Charged while a copy is kept: one past --max-capture-bytes is too_large.
                if share is not None and tap.copying and not share.take(weight * len(chunk)):
                    share = None
                    self._ledger.over_budget(exchange, tap, hold)
            await response.write_eof()
        except ConnectionError:
            gone = True  # the client went away: what it got is all the capture can say
        except asyncio.CancelledError:
            # The client went away while the upstream was silent (the server cancels the
            # handler): leaving closes the upstream connection, so no tokens go on for nobody.
            gone = cancelled = True
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The upstream broke off mid-response. The status is sent already, so the only
            # honest signal left for the client is an unterminated body: close the connection.
            failed = True
            self._ledger.broke_off(exc, upstream.status)
            if request.transport is not None:
                request.transport.close()
        result = tap.finish(gone, failed)
        self._ledger.gen_ai.observe_stream(result)
        return response, result, cancelled
