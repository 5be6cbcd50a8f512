"""What the proxy records of each exchange, whichever path carried it (handler.py's or the fast
lane's): the request counted once under the status the client got, the upstream's latency, and
the capture copies staged, or the exchange's drop counted under its reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import orjson
from aiohttp import web
from prometheus_client import Counter

from sidecar.capture.budget import CopyHold
from sidecar.capture.capturer import Capturer
from sidecar.capture.genai_metrics import GenAiMetrics
from sidecar.capture.streams import StreamCapture
from sidecar.common.exchange import Exchange
from sidecar.metrics import (
    DROP_CLIENT_DISCONNECTED,
    DROP_INFLIGHT_FULL,
    DROP_TOO_LARGE,
    SidecarMetrics,
)
from sidecar.proxy.answers import ThrottledLog, raised_at
from sidecar.proxy.request_tee import Outgoing
from sidecar.proxy.upstream_failure import classify_failure

log = logging.getLogger("sidecar.proxy.handler")

# nginx's code for a request whose client closed the connection before the answer.
CLIENT_CLOSED = 499


class Ledger:
    """The counts and capture staging of the proxy's exchanges."""

    def __init__(
        self, capturer: Capturer, metrics: SidecarMetrics, gen_ai_models: tuple[str, ...]
    ) -> None:
        self.error_log = ThrottledLog(log)
        self.gen_ai = GenAiMetrics(metrics.gen_ai, gen_ai_models)
        self._capturer = capturer
        self._metrics = metrics
        self._request_counters: dict[int, Counter] = {}
        self._upstream_duration = metrics.upstream_duration
        self._request_duration = metrics.request_duration

    def count(self, exchange: Exchange, status: int) -> None:
        """Count the request under the status the client got (each request once)."""
        exchange.status = status
        counter = self._request_counters.get(status)
        if counter is None:
            counter = self._request_counters[status] = self._metrics.requests.labels(str(status))
        counter.inc()
        self._request_duration.observe(time.perf_counter() - exchange.started)

    def client_gone(self, exchange: Exchange) -> None:
        """The client went away before its answer: counted under CLIENT_CLOSED, and a sampled
        exchange dropped as `client_disconnected`."""
        self.count(exchange, CLIENT_CLOSED)
        self.drop(exchange, DROP_CLIENT_DISCONNECTED)

    def upstream_answered(self, exchange: Exchange, sent: float) -> None:
        """The upstream's response head arrived for a request sent at perf_counter `sent`."""
        exchange.upstream_latency = latency = time.perf_counter() - sent
        self._upstream_duration.observe(latency)

    def drop(self, exchange: Exchange, reason: str) -> None:
        """A sampled exchange that will not be recorded: counted once under `reason`."""
        if exchange.capture.sampled and exchange.dropped is None:
            exchange.dropped = reason
            self._capturer.stage(exchange)

    def keep_request(
        self, headers: Mapping[str, str], exchange: Exchange, outgoing: Outgoing
    ) -> None:
        """The request side's capture copy into the exchange, when it is captured."""
        capture = exchange.capture
        if not capture.input:
            return
        exchange.request_type = headers.get("Content-Type", "")
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

    def stage(self, exchange: Exchange, content_type: str, body: bytes | None) -> None:
        """Complete a sampled exchange with its response side (`body`: the copy, None when it
        outgrew the capture limit) and hand it to the capture stage."""
        exchange.response_type = content_type
        if exchange.capture.output and exchange.dropped is None:
            if body is None or len(body) > exchange.capture.limit:
                exchange.dropped = DROP_TOO_LARGE
            else:
                exchange.response_body = body
        self._capturer.stage(exchange)

    def over_budget(self, exchange: Exchange, tap: StreamCapture, hold: CopyHold | None) -> None:
        """A stream whose copy would pass the in-flight copy budget: its copies are let go."""
        tap.drop_copy()
        if hold is not None:
            hold.release()
        exchange.dropped = DROP_INFLIGHT_FULL

    def failure(self, exchange: Exchange, exc: BaseException) -> web.Response:
        """The answer to an upstream that failed: counted, logged, staged when sampled."""
        failure = classify_failure(exc)
        self._metrics.upstream_errors.labels(failure.reason).inc()
        # A parser's message quotes the offending header line: never echoed or logged.
        if failure.reason == "bad_response":
            detail = "the upstream's response could not be parsed or relayed"
        else:
            detail = str(exc) or type(exc).__name__
        self.error_log.warning(
            "upstream request failed",
            failure.reason,
            status=failure.status,
            detail=detail,
        )
        payload = orjson.dumps({"error": failure.error, "reason": failure.reason, "detail": detail})
        response = web.Response(
            status=failure.status, body=payload, content_type="application/json"
        )
        self.count(exchange, failure.status)
        if exchange.capture.sampled:
            exchange.upstream_latency = None
            self.stage(exchange, "application/json", payload)
        return response

    def fault(self, exc: BaseException) -> None:
        """A bug or an unforeseen failure on the request path: its type and place are logged,
        never its message (it may quote a header)."""
        self.error_log.warning(
            "request failed inside the sidecar",
            "internal_error",
            error=type(exc).__name__,
            at=raised_at(exc),
        )

    def broke_off(self, exc: BaseException, status: int) -> None:
        """The upstream broke off a response already started: counted and logged."""
        failure = classify_failure(exc)
        self._metrics.upstream_errors.labels(failure.reason).inc()
        self.error_log.warning("upstream response broke off", failure.reason, status=status)
