"""One proxied exchange -> one capture line on the queue: size limit, redaction, metadata.

Runs on the request path after the client has its response, so it never waits: the line is
offered to the bounded queue and a refusal is counted, never retried.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sidecar.metrics import (
    CAPTURED,
    DROP_QUEUE_FULL,
    DROP_REDACT_ERROR,
    DROP_TOO_LARGE,
    NOT_SAMPLED,
    SidecarMetrics,
)
from sidecar.queue import CaptureQueue
from sidecar.record import Payload, build_record
from sidecar.redact import RedactionError, Redactor
from sidecar.settings import Settings

# Random bytes are read this many ids at a time: one system call per batch, not per record.
_IDS_PER_READ = 256


class EventIds:
    """Fresh random UUID4 strings (RFC 9562 version 4), cheaper than `str(uuid.uuid4())`."""

    def __init__(self) -> None:
        self._pool = b""
        self._offset = 0

    def next(self) -> str:
        if self._offset >= len(self._pool):
            self._pool = os.urandom(16 * _IDS_PER_READ)
            self._offset = 0
        raw = bytearray(self._pool[self._offset : self._offset + 16])
        self._offset += 16
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC variant
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Capturer:
    """Turns exchanges into capture lines for one endpoint variant and counts every outcome."""

    def __init__(self, settings: Settings, queue: CaptureQueue, metrics: SidecarMetrics) -> None:
        self.capture_input = settings.capture_input
        self.capture_output = settings.capture_output
        self.max_bytes = settings.max_capture_bytes
        self._queue = queue
        self._csv_types = settings.csv_content_types
        self._json_types = settings.json_content_types
        self._redactor = Redactor(
            settings.redact_json_fields,
            settings.redact_csv_columns,
            settings.csv_content_types,
            settings.json_content_types,
        )
        records = metrics.capture_records
        # Label children bound once: `.labels()` costs a lock and a dict lookup per call.
        self._captured = records.labels(CAPTURED)
        self._not_sampled = records.labels(NOT_SAMPLED)
        self._too_large = records.labels(DROP_TOO_LARGE)
        self._queue_full = records.labels(DROP_QUEUE_FULL)
        self._redact_error = records.labels(DROP_REDACT_ERROR)
        self._event_ids = EventIds()
        self._hour_start = -1
        self._hour = datetime.fromtimestamp(0, UTC)

    def count_not_sampled(self) -> None:
        self._not_sampled.inc()

    def count_too_large(self) -> None:
        self._too_large.inc()

    def _hour_of(self, arrived: float) -> datetime:
        start = int(arrived) - int(arrived) % 3600
        if start != self._hour_start:
            self._hour = datetime.fromtimestamp(start, UTC)
            self._hour_start = start
        return self._hour

    def build_line(
        self,
        *,
        arrived: float,
        inference_id: str | None,
        path: str,
        status: int,
        request_type: str,
        request_body: bytes,
        response_type: str,
        response_body: bytes,
        upstream_latency: float | None,
        truncated: bool = False,
        event_id: str | None = None,
    ) -> bytes:
        """The record line for one exchange (redacted); raises RedactionError."""
        request = response = None
        redactor = self._redactor
        if self.capture_input:
            if redactor.active:
                request_body = redactor.apply(request_type, request_body)
            request = Payload(request_type, request_body)
        if self.capture_output:
            if redactor.active:
                response_body = redactor.apply(response_type, response_body)
            response = Payload(response_type, response_body)
        extensions: dict[str, object] = {"path": path, "status": status}
        if upstream_latency is not None:
            extensions["upstreamLatencyMs"] = round(upstream_latency * 1000.0, 3)
        if truncated:
            extensions["truncated"] = True
        return build_record(
            inference_time=datetime.fromtimestamp(arrived, UTC),
            request=request,
            response=response,
            inference_id=inference_id,
            event_id=event_id or self._event_ids.next(),
            extensions=extensions,
            csv_types=self._csv_types,
            json_types=self._json_types,
        )

    def submit(
        self,
        *,
        arrived: float,
        inference_id: str | None,
        path: str,
        status: int,
        request_type: str,
        request_body: bytes | None,
        response_type: str,
        response_body: bytes | None,
        upstream_latency: float | None,
        truncated: bool = False,
    ) -> None:
        """Build the record and offer it to the queue; bodies are None when over the limit."""
        if (self.capture_input and request_body is None) or (
            self.capture_output and response_body is None
        ):
            self._too_large.inc()
            return
        try:
            line = self.build_line(
                arrived=arrived,
                inference_id=inference_id,
                path=path,
                status=status,
                request_type=request_type,
                request_body=request_body or b"",
                response_type=response_type,
                response_body=response_body or b"",
                upstream_latency=upstream_latency,
                truncated=truncated,
            )
        except RedactionError:
            self._redact_error.inc()
            return
        if self._queue.offer(self._hour_of(arrived), line):
            self._captured.inc()
        else:
            self._queue_full.inc()
