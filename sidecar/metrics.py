"""Every sidecar metric, defined in one place (DESIGN.md section 4).

Metrics live in a registry per `SidecarMetrics` so tests and several apps in one process never
share counters. With several worker processes (`--workers`), prometheus_client's multiprocess
mode aggregates them: counters and histograms add up, gauges sum over live workers ("livesum").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Client-observed latency sits around a millisecond through loopback; long tails reach seconds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
UPLOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# OpenTelemetry's advised bucket boundaries for the GenAI latency instruments.
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)

# `infertap_capture_records_total{outcome}` values besides the drop reasons. The outcomes partition
# the exchanges; `CaptureOutcomes` is the only thing that counts them.
CAPTURED = "captured"
NOT_SAMPLED = "not_sampled"
# Drop reasons: each is an outcome label value too.
DROP_TOO_LARGE = "too_large"
DROP_QUEUE_FULL = "queue_full"
DROP_SPOOL_FULL = "spool_full"
DROP_WRITE_ERROR = "write_error"
DROP_SHUTDOWN = "shutdown"
# A body of a redactable type that could not be parsed: dropped rather than written unredacted.
DROP_REDACT_ERROR = "redact_error"
# The sidecar answered a sampled request itself without a whole exchange to record: the client
# stopped sending its body (408) or the request path failed (500).
DROP_PROXY_ERROR = "proxy_error"
# An exchange that could not be turned into a record line (it never takes others with it).
DROP_ENCODE_ERROR = "encode_error"
# The client hung up before the upstream's answer reached it (counted as request code 499).
DROP_CLIENT_DISCONNECTED = "client_disconnected"
# The capture copies of the exchanges in flight held --capture-inflight-bytes already.
DROP_INFLIGHT_FULL = "inflight_full"
DROP_REASONS = (
    DROP_TOO_LARGE,
    DROP_QUEUE_FULL,
    DROP_SPOOL_FULL,
    DROP_WRITE_ERROR,
    DROP_SHUTDOWN,
    DROP_REDACT_ERROR,
    DROP_PROXY_ERROR,
    DROP_ENCODE_ERROR,
    DROP_CLIENT_DISCONNECTED,
    DROP_INFLIGHT_FULL,
)
OUTCOMES = (CAPTURED, NOT_SAMPLED, *DROP_REASONS)
# `infertap_client_timeouts_total{phase}`: what the client was slow to send.
CLIENT_PHASES = ("header", "body")

# `infertap_uploads_total{outcome}` values: each attempt counted once (see upload_failure.py).
UPLOAD_SUCCESS = "success"
UPLOAD_REFUSED = "refused"  # nothing listens at the store's address
UPLOAD_CONNECTION = "connection"  # other connection failures: reset, closed, unreachable
UPLOAD_TIMEOUT = "timeout"  # connect or read timeout, or --upload-timeout
UPLOAD_HTTP_ERROR = "http_error"  # the store answered with an error status (500, 503 SlowDown)
UPLOAD_ERROR = "error"  # anything else: a local destination or spool file that fails
UPLOAD_OUTCOMES = (
    UPLOAD_SUCCESS,
    UPLOAD_REFUSED,
    UPLOAD_CONNECTION,
    UPLOAD_TIMEOUT,
    UPLOAD_HTTP_ERROR,
    UPLOAD_ERROR,
)


class CaptureOutcomes:
    """Owns `infertap_capture_records_total`: every exchange considered for capture is counted
    here, once, under one outcome (the request path: not_sampled, too_large, queue_full,
    proxy_error, client_disconnected, inflight_full; the spool writer: captured and the drops
    of writing; delivery: shutdown)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        counter = Counter(
            "infertap_capture_records",
            "Exchanges considered for capture, each counted once by outcome: captured (written "
            "to a spool file), not_sampled, or a drop reason; queued ones are not counted yet.",
            ["outcome"],
            registry=registry,
        )
        # Label children bound once (every series exported from the start, as 0): `.labels()`
        # costs a lock and a dict lookup, and the request path counts per request.
        self._children = {outcome: counter.labels(outcome) for outcome in OUTCOMES}
        self.not_sampled = self._children[NOT_SAMPLED].inc
        self.too_large = self._children[DROP_TOO_LARGE].inc
        self.queue_full = self._children[DROP_QUEUE_FULL].inc
        self.proxy_error = self._children[DROP_PROXY_ERROR].inc
        self.inflight_full = self._children[DROP_INFLIGHT_FULL].inc

    def count(self, outcome: str, records: int = 1) -> None:
        """Count `records` exchanges under `outcome` (one of OUTCOMES)."""
        if records:
            self._children[outcome].inc(records)


class SidecarMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._add_traffic(self.registry)
        self.capture_outcomes = CaptureOutcomes(self.registry)
        self._add_delivery(self.registry)
        self._add_clients(self.registry)
        # Token streams (DESIGN.md section 10), observed by sidecar.capture.genai_metrics.
        self.gen_ai = GenAiInstruments(self.registry)

    def _add_traffic(self, r: CollectorRegistry) -> None:
        self.requests = Counter(
            "infertap_requests", "Requests proxied, by HTTP status code.", ["code"], registry=r
        )
        self.request_duration = Histogram(
            "infertap_request_duration_seconds",
            "Time from request arrival to the last response byte, as the client sees it.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "infertap_upstream_duration_seconds",
            "Time the upstream took to answer with its response headers.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "infertap_upstream_errors",
            "Requests the upstream failed to answer, by reason.",
            ["reason"],
            registry=r,
        )

    def _add_delivery(self, r: CollectorRegistry) -> None:
        self.capture_bytes = Counter(
            "infertap_capture_bytes", "Bytes of capture records written to the spool.", registry=r
        )
        self.capture_queue_bytes = Gauge(
            "infertap_capture_queue_bytes",
            "Bytes of records waiting in the in-memory capture queue.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.spool_bytes = Gauge(
            "infertap_spool_bytes",
            "Bytes of capture files on local disk.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.spool_files = Gauge(
            "infertap_spool_files",
            "Capture files on local disk (open and sealed).",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.uploads = Counter(
            "infertap_uploads",
            "Attempts to deliver a sealed capture file, by outcome: success, refused, connection, "
            "timeout, http_error, error.",
            ["outcome"],
            registry=r,
        )
        self.upload_duration = Histogram(
            "infertap_upload_duration_seconds",
            "Time one successful delivery of a capture file took.",
            buckets=UPLOAD_BUCKETS,
            registry=r,
        )
        # Pre-created so every series is exported (as 0) before the first event.
        for outcome in UPLOAD_OUTCOMES:
            self.uploads.labels(outcome)

    def _add_clients(self, r: CollectorRegistry) -> None:
        self.client_connections = Gauge(
            "infertap_client_connections",
            "Client connections open on the traffic port.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.client_timeouts = Counter(
            "infertap_client_timeouts",
            "Client connections closed for sending too slowly, by phase (header: "
            "--client-header-timeout, body: --client-body-timeout).",
            ["phase"],
            registry=r,
        )
        self.connections_rejected = Counter(
            "infertap_connections_rejected",
            "Client connections closed at once because --max-connections were open.",
            registry=r,
        )
        for phase in CLIENT_PHASES:
            self.client_timeouts.labels(phase)


class GenAiInstruments:
    """The GenAI instruments, after OpenTelemetry's GenAI semantic conventions (DESIGN.md 10);
    `model` label values are bounded by the observer (capture/genai_metrics.py)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.time_to_first_token = Histogram(
            "infertap_gen_ai_time_to_first_token_seconds",
            "Streams: time from request arrival to the first event carrying a token.",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.time_per_output_token = Histogram(
            "infertap_gen_ai_time_per_output_token_seconds",
            "Completed streams: time per output token after the first one.",
            ["model"],
            buckets=TPOT_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "infertap_gen_ai_tokens",
            "Tokens the upstream reported in usage (streamed or not), by type (input, output).",
            ["model", "type"],
            registry=registry,
        )
        self.streams = Counter(
            "infertap_gen_ai_streams",
            "OpenAI-compatible streams by how they ended: completed, client_disconnected, "
            "upstream_truncated (broke off, or ended without [DONE] or a finish reason).",
            ["model", "outcome"],
            registry=registry,
        )
        self.event_streams = Counter(
            "infertap_capture_event_streams",
            "Event streams (text/event-stream) seen, by how they are captured: assembled (as the "
            "equivalent response), other (not OpenAI-compatible) or unparsable (an event did not "
            "parse); the last two are captured as received.",
            ["assembly"],
            registry=registry,
        )
