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
import logging
import time

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import Counter

from sidecar.capture.budget import CopyHold
from sidecar.capture.capturer import Capturer
from sidecar.capture.genai_metrics import GenAiMetrics
from sidecar.capture.policy import CapturePolicy
from sidecar.capture.streams import COMPLETED, StreamCapture, StreamResult, is_event_stream
from sidecar.common.exchange import Exchange
from sidecar.metrics import (
    DROP_CLIENT_DISCONNECTED,
    DROP_INFLIGHT_FULL,
    DROP_PROXY_ERROR,
    DROP_TOO_LARGE,
    SidecarMetrics,
)
from sidecar.proxy.answers import ThrottledLog, answer_expect, json_response, raised_at
from sidecar.proxy.hop_by_hop import end_to_end, upstream_headers
from sidecar.proxy.request_target import TargetRefused, UpstreamUrls, upstream_target
from sidecar.proxy.request_tee import Outgoing, RequestTee
from sidecar.proxy.upstream_failure import classify_failure
from sidecar.proxy.upstream_pool import (
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
)
from sidecar.settings import Settings

log = logging.getLogger("sidecar.proxy.handler")

# Bodies up to this size are read whole (one write each way, the fast path); larger or
# unsized bodies are streamed through so memory stays bounded whatever clients send.
BUFFER_LIMIT = 1 << 20
# nginx's code for a request whose client closed the connection before the answer.
CLIENT_CLOSED = 499
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


async def _prepare(response: web.StreamResponse, request: web.BaseRequest) -> None:
    """Send the status line and headers. aiohttp refuses to write a header value with a control
    character, which its client parser lets through: the upstream's fault, answered 502."""
    try:
        await response.prepare(request)
    except ValueError as exc:
        raise UpstreamProtocolError("upstream sent a header that cannot be relayed") from exc


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
        self._capturer = capturer
        self._metrics = metrics
        self._gen_ai = GenAiMetrics(metrics.gen_ai, settings.gen_ai_models)
        self._request_counters: dict[int, Counter] = {}
        self._upstream_duration = metrics.upstream_duration
        self._request_duration = metrics.request_duration
        self._error_log = ThrottledLog(log)

    def _count_request(self, exchange: Exchange, status: int) -> None:
        """Count the request under the status the client got (each request once)."""
        exchange.status = status
        counter = self._request_counters.get(status)
        if counter is None:
            counter = self._request_counters[status] = self._metrics.requests.labels(str(status))
        counter.inc()
        self._request_duration.observe(time.perf_counter() - exchange.started)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        exchange = Exchange(time.time(), "", time.perf_counter())
        try:
            return await self._handle(request, exchange)
        except asyncio.CancelledError:
            # The client hung up before its answer (aiohttp cancels the handler); a stream
            # that was relaying is counted already.
            if exchange.status is None:
                self._count_request(exchange, CLIENT_CLOSED)
                self._drop(exchange, DROP_CLIENT_DISCONNECTED)
            raise
        except Exception as exc:
            # The last resort: without it aiohttp answers its own text 500, counted nowhere.
            return self._internal_error(request, exchange, exc)

    async def _handle(self, request: web.BaseRequest, exchange: Exchange) -> web.StreamResponse:
        if "Expect" in request.headers:
            refusal = await answer_expect(request)
            if refusal is not None:
                self._count_request(exchange, refusal.status)
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
        return await self._forward(request, exchange, outgoing)

    async def _forward(
        self, request: web.BaseRequest, exchange: Exchange, outgoing: Outgoing
    ) -> web.StreamResponse:
        """Send the request to the upstream and relay its answer."""
        headers = upstream_headers(request)
        tee, body, target = outgoing.tee, outgoing.body, outgoing.target
        pool = self.pool if tee is None else None
        session = self.session
        assert session is not None, "the client session starts with the app"
        method = request.method
        # A pooled keep-alive connection the upstream has just closed fails at once with
        # ServerDisconnectedError; a buffered idempotent request is safe to send again, once.
        retry = method in _IDEMPOTENT and tee is None
        while True:
            upstream_started = time.perf_counter()
            pending: UpstreamResponse | aiohttp.ClientResponse
            try:
                if pool is not None:
                    pending = await pool.request(method, target, headers, body)
                else:
                    pending = await session.request(
                        method,
                        self._urls.url(target),
                        headers=headers,
                        data=outgoing.data,
                        allow_redirects=False,
                    )
                async with pending as upstream:
                    exchange.upstream_latency = time.perf_counter() - upstream_started
                    self._upstream_duration.observe(exchange.upstream_latency)
                    self._keep_request(request, exchange, outgoing)
                    return await self._relay(request, upstream, exchange, outgoing.hold)
            except aiohttp.ServerDisconnectedError as exc:
                if retry:
                    retry = False
                    continue
                failure: BaseException = exc
            except (
                TimeoutError,
                aiohttp.ClientError,
                UpstreamConnectError,
                UpstreamProtocolError,
            ) as exc:
                failure = exc
            if tee is not None and tee.timed_out:
                return self._client_timeout(exchange)
            self._keep_request(request, exchange, outgoing)
            return self._failure(exchange, failure)

    def _refuse(self, refused: TargetRefused, exchange: Exchange) -> web.Response:
        """A request target the proxy does not forward: answered here, the connection closed
        (a CONNECT's following bytes would be tunnel data)."""
        response = json_response(
            refused.status, {"error": refused.error, "detail": refused.detail}, close=True
        )
        if refused.allow is not None:
            response.headers["Allow"] = refused.allow
        self._count_request(exchange, refused.status)
        return response

    def _client_timeout(self, exchange: Exchange) -> web.Response:
        """The client paused mid-body past --client-body-timeout: 408, connection closed."""
        self._body_timeouts.inc()
        self._error_log.warning("client too slow sending the request body", "body_timeout")
        self._count_request(exchange, 408)
        self._drop(exchange, DROP_PROXY_ERROR)
        detail = "no request body bytes within --client-body-timeout"
        return json_response(408, {"error": "client_timeout", "detail": detail}, close=True)

    def _internal_error(
        self, request: web.BaseRequest, exchange: Exchange, exc: Exception
    ) -> web.Response:
        """A bug or an unforeseen failure on the request path: logged (type and place, never
        its message, which may quote a header), counted, answered 500 while still possible."""
        self._error_log.warning(
            "request failed inside the sidecar",
            "internal_error",
            error=type(exc).__name__,
            at=raised_at(exc),
        )
        if exchange.status is None:  # not answered, so not staged either
            self._drop(exchange, DROP_PROXY_ERROR)
        if request.writer.output_size > 0:
            # The status line is sent: all that is left is to end the connection.
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("response already started") from exc
        self._count_request(exchange, 500)
        detail = "the sidecar failed to handle this request; see its logs"
        return json_response(500, {"error": "internal_error", "detail": detail}, close=True)

    def _drop(self, exchange: Exchange, reason: str) -> None:
        """A sampled exchange that will not be recorded: counted once under `reason`."""
        if exchange.capture.sampled and exchange.dropped is None:
            exchange.dropped = reason
            self._capturer.stage(exchange)

    def _keep_request(
        self, request: web.BaseRequest, exchange: Exchange, outgoing: Outgoing
    ) -> None:
        """The request side's capture copy into the exchange, when it is captured."""
        capture = exchange.capture
        if not capture.input:
            return
        exchange.request_type = request.headers.get("Content-Type", "")
        if outgoing.tee is not None:
            copy = outgoing.tee.copy
            if copy is None:
                exchange.dropped = (
                    DROP_INFLIGHT_FULL if outgoing.tee.over_budget else DROP_TOO_LARGE
                )
            else:
                exchange.request_body = bytes(copy)
        elif outgoing.body is not None:
            if len(outgoing.body) > capture.limit:
                exchange.dropped = DROP_TOO_LARGE
            else:
                exchange.request_body = outgoing.body

    def _stage(self, exchange: Exchange, content_type: str, body: bytes | None) -> None:
        """Complete a sampled exchange with its response side (`body`: the copy, None when it
        outgrew the capture limit) and hand it to the capture stage."""
        exchange.response_type = content_type
        if exchange.capture.output and exchange.dropped is None:
            if body is None or len(body) > exchange.capture.limit:
                exchange.dropped = DROP_TOO_LARGE
            else:
                exchange.response_body = body
        self._capturer.stage(exchange)

    def _over_budget(self, exchange: Exchange, tap: StreamCapture, hold: CopyHold | None) -> None:
        """A stream whose copy would pass the in-flight copy budget: its copies are let go."""
        tap.drop_copy()
        if hold is not None:
            hold.release()
        exchange.dropped = DROP_INFLIGHT_FULL

    def _failure(self, exchange: Exchange, exc: BaseException) -> web.Response:
        failure = classify_failure(exc)
        self._metrics.upstream_errors.labels(failure.reason).inc()
        # A parser's message quotes the offending header line: never echoed or logged.
        if failure.reason == "bad_response":
            detail = "the upstream's response could not be parsed or relayed"
        else:
            detail = str(exc) or type(exc).__name__
        self._error_log.warning(
            "upstream request failed",
            failure.reason,
            status=failure.status,
            detail=detail,
        )
        payload = orjson.dumps({"error": failure.error, "reason": failure.reason, "detail": detail})
        response = web.Response(
            status=failure.status, body=payload, content_type="application/json"
        )
        self._count_request(exchange, failure.status)
        if exchange.capture.sampled:
            exchange.upstream_latency = None
            self._stage(exchange, "application/json", payload)
        return response

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
            headers = end_to_end(upstream.headers)
            response = web.Response(status=upstream.status, reason=upstream.reason, headers=headers)
            response.body = captured
            try:
                # Written here, not by aiohttp after return, so capture work below happens
                # once the client has its answer.
                await _prepare(response, request)
                await response.write_eof()
            except ConnectionError:
                exchange.truncated = True
        else:
            response, stream, cancelled = await self._stream(
                request, upstream, exchange, content_type, hold
            )
            captured = stream.body
            exchange.truncated = stream.outcome != COMPLETED
            if stream.kind is not None:
                exchange.assembled = stream.assembled
                exchange.extra_metadata = stream.metadata
        self._count_request(exchange, upstream.status)
        if exchange.capture.sampled:
            self._stage(exchange, content_type, captured)
        if stream is None:
            self._gen_ai.observe_response(content_type, captured)
        elif cancelled:
            raise asyncio.CancelledError  # recorded; now let the cancellation go on
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
            await _prepare(response, request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                tap.feed(chunk)
                # Charged while a copy is kept: one past --max-capture-bytes is too_large.
                if share is not None and tap.copying and not share.take(weight * len(chunk)):
                    share = None
                    self._over_budget(exchange, tap, hold)
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
            failure = classify_failure(exc)
            self._metrics.upstream_errors.labels(failure.reason).inc()
            self._error_log.warning(
                "upstream response broke off", failure.reason, status=upstream.status
            )
            if request.transport is not None:
                request.transport.close()
        result = tap.finish(gone, failed)
        self._gen_ai.observe_stream(result)
        return response, result, cancelled
