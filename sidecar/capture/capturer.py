"""One proxied exchange -> one capture line on the queue: size limit, redaction, metadata.

`stage` runs on the request path after the client has its response and never waits: the
exchange is staged in the bounded queue (a refusal is counted, never retried) and its line is
built with the rest of its batch when the writer takes it (`build_staged`). Outcomes counted here:
not_sampled, too_large, queue_full, redact_error; the writer counts `captured`.
"""

from __future__ import annotations

import base64
import math
import os
from datetime import UTC, datetime

import orjson

from sidecar.capture.queue import CaptureQueue, Exchange
from sidecar.capture.redact import RedactionError, Redactor
from sidecar.capture.streams import StreamResult
from sidecar.common.record import EVENT_VERSION, Encoding, Mode, format_epoch_second, media_type
from sidecar.metrics import (
    DROP_QUEUE_FULL,
    DROP_REDACT_ERROR,
    DROP_TOO_LARGE,
    NOT_SAMPLED,
    SidecarMetrics,
)
from sidecar.settings import Settings

# Event ids are made this many at a time: one system call and a few C-level passes per batch.
_IDS_PER_BATCH = 256
_QUOTED_UUID = 38  # `"8-4-4-4-12"`: 36 characters and the quotes
# A random byte -> a hex digit, uniformly (256 is a multiple of 16).
_HEX_DIGIT = b"0123456789abcdef" * 16
# A random hex digit -> the variant digit (bits 10, then two random bits): 8, 9, a or b.
_VARIANT_DIGIT = bytes.maketrans(b"0123456789abcdef", b"89ab" * 4)
_UNKNOWN: tuple[bytes, bytes | None] = (b"", None)
# Fraction of a second past which microsecond rounding may reach the next second.
_SECOND_EDGE = 0.999999
# Content types seen are classified once (CSV, JSON or neither); the cap bounds memory.
_FORM_CACHE_MAX = 256

# The fixed parts of a record line, in SageMaker's key order (see record.build_record).
_OPEN = b'{"captureData":{'
_INPUT_KEY = b'"endpointInput":'
_OUTPUT_KEY = b'"endpointOutput":'
_NEXT_OUTPUT_KEY = b',"endpointOutput":'
_EVENT_ID_KEY = b'},"eventMetadata":{"eventId":'
_INFERENCE_ID_KEY = b',"inferenceId":'
_INFERENCE_TIME_KEY = b',"inferenceTime":'
_PATH_KEY = b',"path":'
_STATUS_KEY = b',"status":'
_LATENCY_KEY = b',"upstreamLatencyMs":'
_TRUNCATED = b',"truncated":true'
_CLOSE = b'},"eventVersion":' + orjson.dumps(EVENT_VERSION) + b"}\n"
_QUOTE = b'"'
_BASE64_TAIL = b'","encoding":"BASE64"}'
# An assembled stream is JSON whatever its observed type (text/event-stream); redacted as JSON.
_ASSEMBLED_TYPE = "application/json"
_JSON_TAIL = b',"encoding":"JSON"}'


def _uuid4_batch(count: int) -> bytes:
    """`count` random UUID4s (RFC 9562 version 4) as JSON strings back to back, in ASCII."""
    size = _QUOTED_UUID
    text = bytearray(os.urandom(size * count).translate(_HEX_DIGIT))
    for position, character in ((0, b'"'), (9, b"-"), (14, b"-"), (19, b"-"), (24, b"-")):
        text[position::size] = character * count
    text[size - 1 :: size] = b'"' * count
    text[15::size] = b"4" * count  # the version
    text[20::size] = text[20::size].translate(_VARIANT_DIGIT)
    return bytes(text)


class EventIds:
    """Fresh random UUID4s, each as a JSON string (`b'"…"'`); cheaper than `uuid.uuid4()`."""

    def __init__(self) -> None:
        self._pool = b""
        self._offset = 0

    def next(self) -> bytes:
        offset = self._offset
        if offset >= len(self._pool):
            self._pool = _uuid4_batch(_IDS_PER_BATCH)
            offset = 0
        self._offset = offset + _QUOTED_UUID
        return self._pool[offset : offset + _QUOTED_UUID]


class Capturer:
    """Turns exchanges into capture lines for one endpoint variant; counts what it drops."""

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
        self._not_sampled = records.labels(NOT_SAMPLED)
        self._too_large = records.labels(DROP_TOO_LARGE)
        self._queue_full = records.labels(DROP_QUEUE_FULL)
        self._redact_error = records.labels(DROP_REDACT_ERROR)
        self._event_ids = EventIds()
        queue.set_builder(self.build_staged)
        # content type -> (line bytes up to the data, bytes after text data or None for BASE64)
        self._input_forms: dict[str, tuple[bytes, bytes | None]] = {}
        self._output_forms: dict[str, tuple[bytes, bytes | None]] = {}
        self._second = -1
        self._time_json = b""
        self._hour = datetime.fromtimestamp(0, UTC)

    def count_not_sampled(self) -> None:
        self._not_sampled.inc()

    def _form(self, content_type: str, mode: Mode) -> tuple[bytes, bytes | None]:
        """How a payload of this content type is written: what precedes its data, and what
        follows it when it is text (CSV, JSON); BASE64 payloads end with `_BASE64_TAIL`."""
        media = media_type(content_type)
        if media in self._csv_types:
            encoding: Encoding | None = Encoding.CSV
        elif media in self._json_types:
            encoding = Encoding.JSON
        else:
            encoding = None
        head = (
            b'{"observedContentType":'
            + orjson.dumps(content_type)
            + b',"mode":'
            + orjson.dumps(mode.value)
            + b',"data":'
        )
        if encoding is None:
            return head, None
        return head, b',"encoding":' + orjson.dumps(encoding.value) + b"}"

    def _payload(
        self,
        parts: list[bytes],
        forms: dict[str, tuple[bytes, bytes | None]],
        mode: Mode,
        content_type: str,
        body: bytes,
    ) -> None:
        """Append what record.payload_json gives for this body, as JSON, to `parts`."""
        head, text_tail = forms.get(content_type, _UNKNOWN)
        if not head:
            if len(forms) >= _FORM_CACHE_MAX:
                forms.clear()
            head, text_tail = forms[content_type] = self._form(content_type, mode)
        parts.append(head)
        if text_tail is not None:
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                parts.append(orjson.dumps(data))
                parts.append(text_tail)
                return
        parts.append(_QUOTE)
        parts.append(base64.b64encode(body))
        parts.append(_BASE64_TAIL)

    def _stamp(self, arrived: float) -> bytes:
        """The `inferenceTime` of `arrived` as JSON; sets `_hour`, the partition hour."""
        second = math.floor(arrived)
        if arrived - second >= _SECOND_EDGE:
            # datetime rounds to whole microseconds, which can carry into the next second;
            # the rare times near the edge take build_record's own path to agree with it.
            second = math.floor(datetime.fromtimestamp(arrived, UTC).timestamp())
        if second != self._second:
            self._time_json = orjson.dumps(format_epoch_second(second))
            hour_start = second - second % 3600
            if hour_start != self._hour.timestamp():
                self._hour = datetime.fromtimestamp(hour_start, UTC)
            self._second = second
        return self._time_json

    def _line(
        self,
        arrived: float,
        inference_id: str | None,
        path: str,
        status: int,
        request_type: str,
        request_body: bytes,
        response_type: str,
        response_body: bytes,
        upstream_latency: float | None,
        truncated: bool,
        stream: StreamResult | None,
        event_id: bytes,
    ) -> bytes:
        """The record line, joined from its parts; `event_id` is JSON already. Raises
        RedactionError."""
        parts = [_OPEN]
        redactor = self._redactor
        if self.capture_input:
            if redactor.active:
                request_body = redactor.apply(request_type, request_body)
            parts.append(_INPUT_KEY)
            self._payload(parts, self._input_forms, Mode.INPUT, request_type, request_body)
        if self.capture_output:
            assembled = stream is not None and stream.assembled
            if redactor.active:
                body_type = _ASSEMBLED_TYPE if assembled else response_type
                response_body = redactor.apply(body_type, response_body)
            parts.append(_NEXT_OUTPUT_KEY if self.capture_input else _OUTPUT_KEY)
            if assembled:
                _assembled_payload(parts, response_type, response_body)
            else:
                self._payload(parts, self._output_forms, Mode.OUTPUT, response_type, response_body)
        parts.append(_EVENT_ID_KEY)
        parts.append(event_id)
        if inference_id is not None:
            parts.append(_INFERENCE_ID_KEY)
            parts.append(orjson.dumps(inference_id))
        parts.append(_INFERENCE_TIME_KEY)
        parts.append(self._stamp(arrived))
        parts.append(_PATH_KEY)
        parts.append(orjson.dumps(path))
        parts.append(_STATUS_KEY)
        parts.append(b"%d" % status)
        if upstream_latency is not None:
            parts.append(_LATENCY_KEY)
            parts.append(orjson.dumps(round(upstream_latency * 1000.0, 3)))
        if truncated:
            parts.append(_TRUNCATED)
        if stream is not None and stream.metadata:
            parts.append(b"," + orjson.dumps(stream.metadata)[1:-1])
        parts.append(_CLOSE)
        return b"".join(parts)

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
        event_id: str,
        truncated: bool = False,
    ) -> bytes:
        """The line `build_staged` writes for one exchange (redacted), with a given event id;
        raises RedactionError.

        Byte for byte what `record.build_record` writes for the same exchange, with `path`,
        `status`, `upstreamLatencyMs` and `truncated` as metadata extensions; built from
        pre-encoded parts since this runs once per captured request.
        """
        return self._line(
            arrived,
            inference_id,
            path,
            status,
            request_type,
            request_body,
            response_type,
            response_body,
            upstream_latency,
            truncated,
            None,
            orjson.dumps(event_id),
        )

    def stage(
        self,
        arrived: float,
        inference_id: str | None,
        path: str,
        status: int,
        request_type: str,
        request_body: bytes | None,
        response_type: str,
        response_body: bytes | None,
        upstream_latency: float | None,
        truncated: bool,
        stream: StreamResult | None = None,
    ) -> None:
        """Stage the exchange for `build_staged`, or count why not; bodies are None when over
        the size limit. Arguments in `Exchange` order: the request path passes them by position.
        `stream`: an event stream's assembly and eventMetadata extensions (DESIGN.md 10)."""
        if not self.capture_input:
            request_body = b""
        elif request_body is None:
            self._too_large.inc()
            return
        if not self.capture_output:
            response_body = b""
        elif response_body is None:
            self._too_large.inc()
            return
        exchange = (
            arrived,
            inference_id,
            path,
            status,
            request_type,
            request_body,
            response_type,
            response_body,
            upstream_latency,
            truncated,
            stream,
        )
        if not self._queue.stage(exchange):
            self._queue_full.inc()

    def build_staged(self, exchanges: list[Exchange]) -> None:
        """The queue's builder: each staged exchange's line offered to the queue, or counted."""
        line_of, next_id, offer = self._line, self._event_ids.next, self._queue.offer
        for exchange in exchanges:
            try:
                line = line_of(*exchange, next_id())
            except RedactionError:
                self._redact_error.inc()
                continue
            if not offer(self._hour, line):
                self._queue_full.inc()


def _assembled_payload(parts: list[bytes], content_type: str, body: bytes) -> None:
    """An assembled stream's output side: the observed type as seen, the data JSON."""
    parts.append(b'{"observedContentType":' + orjson.dumps(content_type))
    parts.append(b',"mode":"OUTPUT","data":')
    parts.append(orjson.dumps(body.decode("utf-8", errors="replace")))
    parts.append(_JSON_TAIL)
