"""The traffic handler: forward an exchange to the upstream untouched, relay the answer, tee it.

Bodies pass byte-exact (no decompression, no re-encoding); hop-by-hop headers are handled as
RFC 9110 section 7.6.1 says. Capture happens after the client has the whole response and never
waits (see capture.py). Buffered requests to a plain-HTTP upstream use the lean client of
upstream_pool.py; streamed request bodies and https upstreams use aiohttp's ClientSession.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import Counter
from yarl import URL

from sidecar.capture.capturer import Capturer
from sidecar.capture.sampling import Sampler
from sidecar.capture.streams import COMPLETED, StreamCapture, StreamResult
from sidecar.common.logs import Throttle
from sidecar.metrics import SidecarMetrics
from sidecar.proxy.upstream_failure import classify_failure
from sidecar.proxy.upstream_pool import (
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
)
from sidecar.settings import Settings

log = logging.getLogger("sidecar.proxy.handler")

# RFC 9110 section 7.6.1, plus Proxy-* (meant for this hop) and Expect, which the server side
# already answered (aiohttp sends 100 Continue when the body is read).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-authentication-info",
        "expect",
        "host",
    }
)
SAGEMAKER_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
# Bodies up to this size are read whole (one write each way, the fast path); larger or
# unsized bodies are streamed through so memory stays bounded whatever clients send.
BUFFER_LIMIT = 1 << 20
STREAM_CHUNK = 1 << 16
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> frozenset[str]:
    """Header names listed in Connection: hop-by-hop too (RFC 9110 section 7.6.1)."""
    values = headers.getall("Connection", ())
    return frozenset(t.strip().lower() for v in values for t in v.split(",") if t.strip())


def end_to_end(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """A copy of `headers` without hop-by-hop ones; names and values unchanged, order kept."""
    extra = connection_tokens(headers) if "Connection" in headers else frozenset()
    result: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower.startswith("proxy-") or lower in extra:
            continue
        result.add(name, value)
    return result


class _RequestTee:
    """Streams the request body to the upstream, keeping a copy up to the capture limit."""

    def __init__(self, content: aiohttp.StreamReader, limit: int | None) -> None:
        self._content = content
        self._limit = limit
        self.copy: bytearray | None = bytearray() if limit is not None else None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._content.iter_chunked(STREAM_CHUNK):
            if self.copy is not None and self._limit is not None:
                if len(self.copy) + len(chunk) > self._limit:
                    self.copy = None
                else:
                    self.copy += chunk
            yield chunk


async def answer_expect(request: web.BaseRequest) -> web.Response | None:
    """What aiohttp's router does before a handler runs: on HTTP/1.1, `100-continue` gets its
    interim response (the client then sends the body), any other expectation a 417."""
    if request.version != aiohttp.HttpVersion11:
        return None
    expect = request.headers["Expect"]
    if expect.lower() != "100-continue":
        return web.Response(status=417, text=f"Unknown Expect: {expect}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    # The interim response is not part of the response body size aiohttp accounts for.
    request.writer.output_size = 0
    return None


class ThrottledLog:
    """At most one warning per reason per interval, so an upstream outage does not flood logs;
    `occurrences` says how many failures the line stands for."""

    def __init__(self, interval: float = 5.0) -> None:
        self._interval = interval
        self._reasons: dict[str, Throttle] = {}

    def warning(self, message: str, reason: str, **fields: object) -> None:
        throttle = self._reasons.get(reason)
        if throttle is None:
            throttle = self._reasons[reason] = Throttle(self._interval)
        if occurrences := throttle.add(1):
            log.warning(
                message, extra={"fields": {"reason": reason, "occurrences": occurrences, **fields}}
            )


@dataclass(slots=True)
class _Exchange:
    """What the capture needs to remember about one request while it is in flight."""

    started: float
    arrived: float
    path: str
    inference_id: str | None = None
    sampled: bool = False
    request_body: bytes | None = b""


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
        self._base = settings.upstream
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
        self._error_log = ThrottledLog()

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
        started = time.perf_counter()
        arrived = time.time()
        if "Expect" in request.headers:
            refusal = await answer_expect(request)
            if refusal is not None:
                return refusal
        raw_path = request.raw_path
        exchange = _Exchange(started, arrived, raw_path.partition("?")[0])
        if self._sampler.is_candidate(request.method, exchange.path):
            incoming = request.headers
            exchange.inference_id = incoming.get(self._id_header) or incoming.get(
                SAGEMAKER_ID_HEADER
            )
            exchange.sampled = self._sampler.keep(exchange.inference_id)
            if not exchange.sampled:
                self._capturer.count_not_sampled()
        capture_request = exchange.sampled and self._capture_input

        body: bytes | None = None
        tee: _RequestTee | None = None
        length = request.content_length
        if not request.body_exists:
            data: bytes | _RequestTee | None = None
        elif length is not None and length <= BUFFER_LIMIT:
            content = request.content
            # A small body has usually arrived whole with the head: taken without awaiting.
            data = body = content.read_nowait() if content.is_eof() else await request.read()
        else:
            data = tee = _RequestTee(
                request.content, self._max_capture if capture_request else None
            )

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
                    pending = await pool.request(method, raw_path, headers, body)
                else:
                    url = URL(self._base + raw_path, encoded=True)
                    pending = await session.request(
                        method, url, headers=headers, data=data, allow_redirects=False
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
            if exchange.sampled:
                exchange.request_body = self._request_copy(body, tee, capture_request)
            return self._failure(request, exchange, failure)

    def _request_copy(
        self, body: bytes | None, tee: _RequestTee | None, wanted: bool
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
        exchange: _Exchange,
        status: int,
        response_type: str,
        response_body: bytes | None,
        latency: float | None,
        truncated: bool = False,
        stream: StreamResult | None = None,
    ) -> None:
        """Hand the exchange to the capturer; a response body over the limit goes as None."""
        if response_body is not None and len(response_body) > self._max_capture:
            response_body = None
        self._capturer.stage(
            exchange.arrived,
            exchange.inference_id,
            exchange.path,
            status,
            request.headers.get("Content-Type", ""),
            exchange.request_body,
            response_type,
            response_body,
            latency,
            truncated,
            stream if stream is not None and stream.kind is not None else None,
        )

    def _failure(
        self, request: web.BaseRequest, exchange: _Exchange, exc: BaseException
    ) -> web.Response:
        failure = classify_failure(exc)
        self._metrics.upstream_errors.labels(failure.reason).inc()
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
        exchange: _Exchange,
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
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                truncated = True
        else:
            response, stream, truncated, cancelled = await self._stream(
                request, upstream, headers, exchange, content_type
            )
            captured = stream.body
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
        exchange: _Exchange,
        content_type: str,
    ) -> tuple[web.StreamResponse, StreamResult, bool, bool]:
        """Relay chunk by chunk as they arrive, each followed by StreamCapture after it is sent;
        returns (response, what was captured, truncated, cancelled)."""
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
            await response.prepare(request)
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
