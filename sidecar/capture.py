"""One proxied exchange -> one capture line on the queue: size limit, redaction, metadata.

Runs on the request path after the client has its response, so it never waits: the line is
offered to the bounded queue and a refusal is counted, never retried.
"""

from __future__ import annotations

import base64
import math
import os
from datetime import UTC, datetime

import orjson

from sidecar.metrics import (
    CAPTURED,
    DROP_QUEUE_FULL,
    DROP_REDACT_ERROR,
    DROP_TOO_LARGE,
    NOT_SAMPLED,
    SidecarMetrics,
)
from sidecar.queue import CaptureQueue
from sidecar.record import EVENT_VERSION, Encoding, Mode, format_epoch_second, media_type
from sidecar.redact import RedactionError, Redactor
from sidecar.settings import Settings

# Random bytes are read this many ids at a time: one system call per batch, not per record.
_IDS_PER_READ = 256
_INPUT = Mode.INPUT.value
_OUTPUT = Mode.OUTPUT.value
_BASE64 = Encoding.BASE64.value
_UNKNOWN = "?"
# Fraction of a second past which microsecond rounding may reach the next second.
_SECOND_EDGE = 0.999999


class EventIds:
    """Fresh random UUID4 strings (RFC 9562 version 4), cheaper than `str(uuid.uuid4())`."""

    def __init__(self) -> None:
        self._pool = ""
        self._offset = 0

    def next(self) -> str:
        offset = self._offset
        if offset >= len(self._pool):
            self._pool = os.urandom(16 * _IDS_PER_READ).hex()
            offset = 0
        self._offset = offset + 32
        h = self._pool[offset : offset + 32]
        # Version nibble 4; variant bits 10 followed by the two random low bits of nibble 16.
        variant = _VARIANT[h[16]]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


_VARIANT = {f"{n:x}": "89ab"[n & 3] for n in range(16)}
# Content types seen are classified once (CSV, JSON or neither); the cap bounds memory.
_KIND_CACHE_MAX = 256


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
        self._kinds: dict[str, str | None] = {}
        self._second = -1
        self._second_text = ""
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

    def _kind(self, content_type: str) -> str | None:
        """The text encoding a body of this content type gets ("CSV", "JSON") or None."""
        kinds = self._kinds
        kind = kinds.get(content_type, _UNKNOWN)
        if kind is _UNKNOWN:
            if len(kinds) >= _KIND_CACHE_MAX:
                kinds.clear()
            media = media_type(content_type)
            if media in self._csv_types:
                kind = Encoding.CSV.value
            elif media in self._json_types:
                kind = Encoding.JSON.value
            else:
                kind = None
            kinds[content_type] = kind
        return kind

    def _payload(self, content_type: str, body: bytes, mode: str) -> dict[str, str]:
        # What record.payload_json gives, without its per-call lookups (same keys, same order).
        kind = self._kind(content_type)
        if kind is not None:
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                return {
                    "observedContentType": content_type,
                    "mode": mode,
                    "data": data,
                    "encoding": kind,
                }
        return {
            "observedContentType": content_type,
            "mode": mode,
            "data": base64.b64encode(body).decode("ascii"),
            "encoding": _BASE64,
        }

    def _inference_time(self, arrived: float) -> str:
        second = math.floor(arrived)
        if arrived - second >= _SECOND_EDGE:
            # datetime rounds to whole microseconds, which can carry into the next second;
            # the rare times near the edge take build_record's own path to agree with it.
            second = math.floor(datetime.fromtimestamp(arrived, UTC).timestamp())
        if second != self._second:
            self._second_text = format_epoch_second(second)
            self._second = second
        return self._second_text

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
        """The record line for one exchange (redacted); raises RedactionError.

        Byte for byte what `record.build_record` writes for the same exchange, built directly:
        this runs once per captured request.
        """
        capture: dict[str, dict[str, str]] = {}
        redactor = self._redactor
        if self.capture_input:
            if redactor.active:
                request_body = redactor.apply(request_type, request_body)
            capture["endpointInput"] = self._payload(request_type, request_body, _INPUT)
        if self.capture_output:
            if redactor.active:
                response_body = redactor.apply(response_type, response_body)
            capture["endpointOutput"] = self._payload(response_type, response_body, _OUTPUT)
        metadata: dict[str, object] = {"eventId": event_id or self._event_ids.next()}
        if inference_id is not None:
            metadata["inferenceId"] = inference_id
        metadata["inferenceTime"] = self._inference_time(arrived)
        metadata["path"] = path
        metadata["status"] = status
        if upstream_latency is not None:
            metadata["upstreamLatencyMs"] = round(upstream_latency * 1000.0, 3)
        if truncated:
            metadata["truncated"] = True
        record = {"captureData": capture, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)

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
