"""The traffic handler: forward an exchange to the upstream untouched, relay the answer, tee it.

Every request goes to --upstream: only the path and query of its target are used (see
request_target.py; CONNECT is refused). Bodies pass byte-exact (no decompression, no re-encoding;
the server side does not inflate request bodies either, see app.py); hop-by-hop headers are
handled as RFC 9110 section 7.6.1 says. Capture happens after the client has the whole
response and never waits (see capture.py). Buffered requests to a plain-HTTP upstream use the
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
from multidict import CIMultiDict
from prometheus_client import Counter

from sidecar.capture.capturer import Capturer
from sidecar.capture.sampling import Sampler
from sidecar.capture.streams import COMPLETED, StreamCapture, StreamResult
from sidecar.common.exchange import Exchange
from sidecar.metrics import SidecarMetrics
from sidecar.proxy.answers import ThrottledLog, answer_expect, json_response, raised_at
from sidecar.proxy.hop_by_hop import end_to_end
from sidecar.proxy.request_target import TargetRefused, UpstreamUrls, upstream_target
from sidecar.proxy.request_tee import RequestTee
from sidecar.proxy.upstream_failure import classify_failure
from sidecar.proxy.upstream_pool import (
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
)
from sidecar.settings import Settings

log = logging.getLogger("sidecar.proxy.handler")

SAGEMAKER_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
# Bodies up to this size are read whole (one write each way, the fast path); larger or
# unsized bodies are streamed through so memory stays bounded whatever clients send.
BUFFER_LIMIT = 1 << 20
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
        sampler: Sampler,
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
        self._proxy_error = metrics.capture_outcomes.proxy_error
        self._id_header = settings.inference_id_header
        self._sampler = sampler
        self._capturer = capturer
        self._max_capture = settings.max_capture_bytes
        self._capture_input = settings.capture_input
        self._capture_output = settings.capture_output
        self._metrics = metrics
        self._gen_ai = metrics.gen_ai
        self._gen_ai.keep_models(settings.gen_ai_models)
        self._request_counters: dict[int, Counter] = {}
        self._upstream_duration = metrics.upstream_duration
        self._request_duration = metrics.request_duration
        self._error_log = ThrottledLog(log)

    def _count_request(self, status: int, started: float) -> None:
        counter = self._request_counters.get(status)
        if counter is None:
            counter = self._request_counters[status] = self._metrics.requests.labels(str(status))
        counter.inc()
        self._request_duration.observe(time.perf_counter() - started)

    def _upstream_headers(self, request: web.BaseRequest) -> CIMultiDict[str]:
        headers = end_to_end(request.headers)
        remote = request.remote or ""
        forwarded = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {remote}" if forwarded else remote
        if "X-Forwarded-Proto" not in headers:
            headers["X-Forwarded-Proto"] = request.scheme
        host = request.headers.get("Host")
        if host and "X-Forwarded-Host" not in headers:
            headers["X-Forwarded-Host"] = host
        return headers

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        exchange = Exchange(time.time(), "", time.perf_counter())
        try:
            return await self._handle(request, exchange)
        except Exception as exc:
            # The last resort: without it aiohttp answers its own text 500, counted nowhere.
            return self._internal_error(request, exchange, exc)

    async def _handle(self, request: web.BaseRequest, exchange: Exchange) -> web.StreamResponse:
        if "Expect" in request.headers:
            refusal = await answer_expect(request)
            if refusal is not None:
                self._count_request(refusal.status, exchange.started)
                return refusal
        method = request.method
        target = request.raw_path
        # Cheap test first: nearly every target is a path.
        if target[:1] != "/" or method == "CONNECT":
            try:
                target = upstream_target(method, target)
            except TargetRefused as refused:
                return self._refuse(refused, exchange.started)
        exchange.path = target.partition("?")[0]
        if self._sampler.is_candidate(method, exchange.path):
            incoming = request.headers
            exchange.inference_id = incoming.get(self._id_header) or incoming.get(
                SAGEMAKER_ID_HEADER
            )
            exchange.sampled = self._sampler.keep(exchange.inference_id)
            if not exchange.sampled:
                self._capturer.count_not_sampled()

        body: bytes | None = None
        tee: RequestTee | None = None
        length = request.content_length
        if not request.body_exists:
            data: bytes | RequestTee | None = None
        elif length is not None and length <= BUFFER_LIMIT:
            content = request.content
            # A small body has usually arrived whole with the head: taken without awaiting.
            if content.is_eof():
                data = body = content.read_nowait()
            else:
                try:
                    async with asyncio.timeout(self._body_timeout):
                        data = body = await request.read()
                except TimeoutError:
                    return self._client_timeout(exchange)
        else:
            keep = self._max_capture if exchange.sampled and self._capture_input else None
            data = tee = RequestTee(request.content, keep, self._body_timeout)
        return await self._forward(request, exchange, target, data, body, tee)

    async def _forward(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        target: str,
        data: bytes | RequestTee | None,
        body: bytes | None,
        tee: RequestTee | None,
    ) -> web.StreamResponse:
        """Send the request to the upstream (`target`: origin-form) and relay its answer."""
        capture_request = exchange.sampled and self._capture_input
        headers = self._upstream_headers(request)
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
                        data=data,
                        allow_redirects=False,
                    )
                async with pending as upstream:
                    latency = time.perf_counter() - upstream_started
                    self._upstream_duration.observe(latency)
                    if exchange.sampled:
                        exchange.request_body = self._request_copy(body, tee, capture_request)
                    return await self._relay(request, upstream, exchange, latency)
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
            if exchange.sampled:
                exchange.request_body = self._request_copy(body, tee, capture_request)
            return self._failure(request, exchange, failure)

    def _refuse(self, refused: TargetRefused, started: float) -> web.Response:
        """A request target the proxy does not forward: answered here, the connection closed
        (a CONNECT's following bytes would be tunnel data)."""
        response = json_response(
            refused.status, {"error": refused.error, "detail": refused.detail}, close=True
        )
        if refused.allow is not None:
            response.headers["Allow"] = refused.allow
        self._count_request(refused.status, started)
        return response

    def _client_timeout(self, exchange: Exchange) -> web.Response:
        """The client paused mid-body past --client-body-timeout: 408, connection closed."""
        self._body_timeouts.inc()
        self._error_log.warning("client too slow sending the request body", "body_timeout")
        if exchange.sampled:
            self._proxy_error()
        self._count_request(408, exchange.started)
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
        if exchange.sampled:
            self._proxy_error()
        if request.writer.output_size > 0:
            # The status line is sent: all that is left is to end the connection.
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("response already started") from exc
        self._count_request(500, exchange.started)
        detail = "the sidecar failed to handle this request; see its logs"
        return json_response(500, {"error": "internal_error", "detail": detail}, close=True)

    def _request_copy(
        self, body: bytes | None, tee: RequestTee | None, wanted: bool
    ) -> bytes | None:
        """The request body for capture; None when over the limit."""
        if not wanted:
            return b""
        if tee is not None:
            return bytes(tee.copy) if tee.copy is not None else None
        if body is None:
            return b""
        return body if len(body) <= self._max_capture else None

    def _stage(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        status: int,
        response_type: str,
        response_body: bytes | None,
        latency: float | None,
        truncated: bool = False,
        stream: StreamResult | None = None,
    ) -> None:
        """Complete the exchange and hand it to the capture stage as is; a response body over the
        limit goes as None. `stream`: an event stream's assembly and metadata (DESIGN.md 10)."""
        if response_body is not None and len(response_body) > self._max_capture:
            response_body = None
        exchange.status = status
        exchange.request_type = request.headers.get("Content-Type", "")
        exchange.response_type = response_type
        exchange.response_body = response_body
        exchange.upstream_latency = latency
        exchange.truncated = truncated
        if stream is not None and stream.kind is not None:
            exchange.assembled = stream.assembled
            exchange.extra_metadata = stream.metadata
        self._capturer.stage(exchange)

    def _failure(
        self, request: web.BaseRequest, exchange: Exchange, exc: BaseException
    ) -> web.Response:
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
        self._count_request(failure.status, exchange.started)
        if exchange.sampled:
            self._stage(request, exchange, failure.status, "application/json", payload, None)
        return response

    async def _relay(
        self,
        request: web.BaseRequest,
        upstream: UpstreamResponse | aiohttp.ClientResponse,
        exchange: Exchange,
        latency: float,
    ) -> web.StreamResponse:
        headers = end_to_end(upstream.headers)
        content_type = upstream.headers.get("Content-Type", "")
        length = upstream.content_length
        streaming = (
            length is None or length > BUFFER_LIMIT or content_type.startswith("text/event-stream")
        )
        truncated = cancelled = False
        response: web.StreamResponse
        captured: bytes | None
        stream: StreamResult | None = None
        if not streaming:
            captured = await upstream.read()
            response = web.Response(status=upstream.status, reason=upstream.reason, headers=headers)
            response.body = captured
            try:
                # Written here, not by aiohttp after return, so capture work below happens
                # once the client has its answer.
                await _prepare(response, request)
                await response.write_eof()
            except ConnectionError:
                truncated = True
        else:
            response, stream, truncated, cancelled = await self._stream(
                request, upstream, headers, exchange, content_type
            )
            captured = stream.body  # the capturer ignores it when output is not captured
        self._count_request(upstream.status, exchange.started)
        if exchange.sampled:
            self._stage(
                request, exchange, upstream.status, content_type, captured, latency, truncated,
                stream,
            )  # fmt: skip
        if stream is None:
            self._gen_ai.observe_response(content_type, captured)
        elif cancelled:
            raise asyncio.CancelledError  # recorded; now let the cancellation go on
        return response

    async def _stream(
        self,
        request: web.BaseRequest,
        upstream: UpstreamResponse | aiohttp.ClientResponse,
        headers: CIMultiDict[str],
        exchange: Exchange,
        content_type: str,
    ) -> tuple[web.StreamResponse, StreamResult, bool, bool]:
        """Relay chunk by chunk as they arrive, each followed by StreamCapture after it is sent;
        returns (response, what was captured, truncated, cancelled). The capture's body is None
        when it outgrew --max-capture-bytes (counted as too_large, never stored empty)."""
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        length = upstream.content_length
        keep = exchange.sampled and self._capture_output
        if length is not None and length > self._max_capture:
            keep = False
        tap = StreamCapture(exchange.started, self._max_capture, keep, content_type)
        gone = failed = cancelled = False
        try:
            await _prepare(response, request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                tap.feed(chunk)
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
        return response, result, result.outcome != COMPLETED, cancelled
