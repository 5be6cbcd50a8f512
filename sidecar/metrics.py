"""Every sidecar metric, defined in one place (DESIGN.md section 4).

Metrics live in a registry per `SidecarMetrics` so tests and several apps in one process never
share counters. With several worker processes (`--workers`), prometheus_client's multiprocess
mode aggregates them: counters and histograms add up, gauges sum over live workers ("livesum").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sidecar.capture.genai_metrics import GenAiMetrics

# Client-observed latency sits around a millisecond through loopback; long tails reach seconds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
UPLOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# `infertap_capture_records_total{outcome}` values besides the drop reasons. The outcomes partition
# the exchanges: the request path counts not_sampled, too_large, queue_full and redact_error; the
# spool writer counts captured, spool_full and write_error; delivery counts shutdown.
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
DROP_REASONS = (
    DROP_TOO_LARGE,
    DROP_QUEUE_FULL,
    DROP_SPOOL_FULL,
    DROP_WRITE_ERROR,
    DROP_SHUTDOWN,
    DROP_REDACT_ERROR,
)


class SidecarMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
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
        self.capture_records = Counter(
            "infertap_capture_records",
            "Exchanges considered for capture, each counted once by outcome: captured (written "
            "to a spool file), not_sampled, or a drop reason; queued ones are not counted yet.",
            ["outcome"],
            registry=r,
        )
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
            "Attempts to deliver a sealed capture file, by outcome (success, error).",
            ["outcome"],
            registry=r,
        )
        self.upload_duration = Histogram(
            "infertap_upload_duration_seconds",
            "Time one successful delivery of a capture file took.",
            buckets=UPLOAD_BUCKETS,
            registry=r,
        )
        # Token streams (DESIGN.md section 10); the proxy sets the model labels kept.
        self.gen_ai = GenAiMetrics(r)
        # Pre-create label sets so every series is exported (as 0) before the first event.
        for outcome in (CAPTURED, NOT_SAMPLED, *DROP_REASONS):
            self.capture_records.labels(outcome)
        for outcome in ("success", "error"):
            self.uploads.labels(outcome)
