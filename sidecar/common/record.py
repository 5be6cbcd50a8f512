"""The SageMaker data-capture record: one exchange as one JSON line (DESIGN.md section 2).

Shared by the sidecar, which writes records (`RecordEncoder`), and the analyzer, which reads
them (`parse_record`, `captured_payload`); the analyzer imports sidecar.common only.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import threading
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from sidecar.common.encoded import EncodedBatch, EncodedHour, Line
from sidecar.common.event_ids import EventIds
from sidecar.common.exchange import BOTH_SIDES, Exchange, with_valid_text
from sidecar.errors import SidecarError

EVENT_VERSION = "0"
INFERENCE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEFAULT_CSV_TYPES: tuple[str, ...] = ("text/csv",)
DEFAULT_JSON_TYPES: tuple[str, ...] = ("application/json", "application/jsonlines")


class Encoding(StrEnum):
    CSV = "CSV"
    JSON = "JSON"
    BASE64 = "BASE64"


class Mode(StrEnum):
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class RecordError(SidecarError, ValueError):
    """A capture line that is not a SageMaker capture record."""


def media_type(content_type: str) -> str:
    """`text/csv; charset=utf-8` -> `text/csv` (lower case, parameters dropped)."""
    return content_type.partition(";")[0].strip().lower()


def text_encoding(
    content_type: str, csv_types: Collection[str], json_types: Collection[str]
) -> Encoding | None:
    """CSV or JSON when bodies of this content type are written as text (if valid UTF-8), None
    when they are always BASE64. Structured `+json` types (`application/vnd.api+json`) are JSON."""
    kind = media_type(content_type)
    if kind in csv_types:
        return Encoding.CSV
    if kind in json_types or kind.endswith("+json"):
        return Encoding.JSON
    return None


def decode_data(data: str, encoding: str) -> bytes:
    """The raw body bytes of a captured payload, whatever its encoding."""
    if encoding == Encoding.BASE64:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RecordError(f"payload marked BASE64 is not valid base64: {exc}") from exc
    return data.encode("utf-8")


def format_inference_time(moment: datetime) -> str:
    return format_epoch_second(math.floor(moment.timestamp()))


# Every captured record formats its time; within a second the text is the same, and strftime is
# the costliest step of building a record, so recent seconds are memoised.
@functools.lru_cache(maxsize=8)
def format_epoch_second(second: int) -> str:
    """The `inferenceTime` text of a Unix time in whole seconds (as `format_inference_time`)."""
    return datetime.fromtimestamp(second, UTC).strftime(INFERENCE_TIME_FORMAT)


def parse_inference_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, INFERENCE_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        # Tolerate fractional seconds or offsets written by other tools.
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise RecordError(f"inferenceTime {text!r} is not an ISO-8601 UTC time") from exc
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Payload:
    """One side of an exchange as seen on the wire."""

    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class CapturedPayload:
    """One side of a record as read back: the encoding says how `data` holds the body."""

    content_type: str
    data: str
    encoding: str

    def body(self) -> bytes:
        return decode_data(self.data, self.encoding)


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """A parsed capture line; unknown metadata keys are kept in `metadata`."""

    event_id: str
    inference_time: datetime
    inference_id: str | None
    endpoint_input: CapturedPayload | None
    endpoint_output: CapturedPayload | None
    metadata: Mapping[str, Any]


def captured_payload(side: Any) -> CapturedPayload | None:
    """One side of a parsed record (`captureData.endpointInput` or `endpointOutput`, as loaded
    from JSON) as a CapturedPayload; None when absent. Raises RecordError when it has no string
    `data`."""
    if side is None:
        return None
    if type(side) is not dict or type(side.get("data")) is not str:
        raise RecordError("a captureData side (endpointInput/endpointOutput) has no string 'data'")
    return CapturedPayload(
        content_type=str(side.get("observedContentType", "")),
        data=side["data"],
        encoding=str(side.get("encoding", Encoding.BASE64)),
    )


def parse_record(line: bytes | str) -> CaptureRecord:
    """Parse one capture line; raise `RecordError` naming what is wrong."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise RecordError("a capture record must be a JSON object")
    capture = raw.get("captureData")
    metadata = raw.get("eventMetadata")
    if not isinstance(capture, dict) or not isinstance(metadata, dict):
        raise RecordError("missing captureData or eventMetadata")
    time_text = metadata.get("inferenceTime")
    if not isinstance(time_text, str):
        raise RecordError("eventMetadata.inferenceTime is missing")
    inference_id = metadata.get("inferenceId")
    return CaptureRecord(
        event_id=str(metadata.get("eventId", "")),
        inference_time=parse_inference_time(time_text),
        inference_id=str(inference_id) if inference_id is not None else None,
        endpoint_input=captured_payload(capture.get("endpointInput")),
        endpoint_output=captured_payload(capture.get("endpointOutput")),
        metadata=metadata,
    )


# -- writing: exchanges -> record lines ------------------------------------------------------

# Takes a body's content type and bytes, returns the bytes to write (redaction); raises
# BodyRejected for a body that must not be written.
BodyFilter = Callable[[str, bytes], bytes]
_INPUT, _OUTPUT = Mode.INPUT.value, Mode.OUTPUT.value
# Content types seen are classified once; the cap bounds memory when clients send many.
_FORM_CACHE_MAX = 256


class BodyRejected(SidecarError, ValueError):
    """A body the body filter refuses to let through (it could not be redacted)."""


@dataclass(frozen=True, slots=True)
class RecordFormat:
    """Which content types are written as text (the sides a record holds are the exchange's
    `capture`)."""

    csv_types: frozenset[str] = frozenset(DEFAULT_CSV_TYPES)
    json_types: frozenset[str] = frozenset(DEFAULT_JSON_TYPES)


# The fixed parts of a record line, in SageMaker's key order.
_OPEN = b'{"captureData":{'
_INPUT_KEY = b'"endpointInput":'
_OUTPUT_KEY = b'"endpointOutput":'
_NEXT_OUTPUT_KEY = b',"endpointOutput":'
_EVENT_ID_KEY = b'},"eventMetadata":{"eventId":'
_INFERENCE_ID_KEY = b',"inferenceId":'
_INFERENCE_TIME_KEY = b',"inferenceTime":'
_PATH_KEY = b',"path":'
_STATUS = b',"status":%d'
_LATENCY_KEY = b',"upstreamLatencyMs":'
_TRUNCATED = b',"truncated":true'
_CLOSE = b'},"eventVersion":' + orjson.dumps(EVENT_VERSION) + b"}\n"
_QUOTE = b'"'
_BASE64_TAIL = b'","encoding":"BASE64"}'
# content type -> (what precedes a payload's data, what follows text data; None: BASE64 only)
_Forms = dict[str, tuple[bytes, bytes | None]]


# What an assembled token stream is, whatever its observed type: redacted as this.
ASSEMBLED_TYPE = "application/json"


class RecordEncoder:
    """Turns exchanges into SageMaker capture lines (DESIGN.md section 2), a batch at a time.

    Lines are joined from pre-encoded parts: this runs once per captured request. `path`,
    `status`, `upstreamLatencyMs` and `truncated` are metadata extensions. Keeps state (event
    ids, the current second's inferenceTime, content types seen): each encoder belongs to one
    user (the spool writer, on the event loop), never shared between threads.
    """

    def __init__(self, form: RecordFormat | None = None, body_filter: BodyFilter | None = None):
        self.format = form or RecordFormat()
        self._filter = body_filter
        self._event_ids = EventIds()
        self._input_forms: _Forms = {}
        self._output_forms: _Forms = {}
        self._second = -1
        self._time = b""
        self._hour = 0

    def encode(self, exchanges: Sequence[Exchange]) -> EncodedBatch:
        """Lines for `exchanges`; one that cannot be encoded is counted and never stops others."""
        batch = EncodedBatch()
        by_hour: dict[int, list[bytes]] = {}
        lines: list[bytes] = []
        current = None
        line_of = self.line
        for exchange in exchanges:
            try:
                try:
                    hour_start, line = line_of(exchange)
                except orjson.JSONEncodeError:
                    hour_start, line = line_of(with_valid_text(exchange))
            except BodyRejected:
                batch.rejected += 1
                continue
            except Exception:  # whatever is wrong with one exchange, the others still go out
                batch.failed += 1
                continue
            if hour_start != current:
                current = hour_start
                lines = by_hour.setdefault(current, [])
            lines.append(line)
        for hour_start, hour_lines in by_hour.items():
            hour = datetime.fromtimestamp(hour_start, UTC)
            batch.hours.append(EncodedHour(hour, b"".join(hour_lines), len(hour_lines)))
        return batch

    def line(self, exchange: Exchange) -> Line:
        """The record line of one exchange (the sides its `capture` names) and its partition
        hour; raises BodyRejected, or orjson.JSONEncodeError for strings that are not valid
        Unicode."""
        dumps = orjson.dumps
        capture = exchange.capture
        parts = [_OPEN]
        if capture.input:
            parts.append(_INPUT_KEY)
            self._payload(
                parts, self._input_forms, _INPUT, exchange.request_type, exchange.request_body
            )
        if capture.output:
            parts.append(_NEXT_OUTPUT_KEY if capture.input else _OUTPUT_KEY)
            if exchange.assembled:
                self._assembled_payload(parts, exchange.response_type, exchange.response_body)
            else:
                self._payload(
                    parts,
                    self._output_forms,
                    _OUTPUT,
                    exchange.response_type,
                    exchange.response_body,
                )
        parts.append(_EVENT_ID_KEY)
        parts.append(dumps(exchange.event_id) if exchange.event_id else self._event_ids.next())
        if exchange.inference_id is not None:
            parts.append(_INFERENCE_ID_KEY + dumps(exchange.inference_id))
        parts.append(_INFERENCE_TIME_KEY)
        second = math.floor(exchange.arrived)
        if second != self._second:
            self._time = orjson.dumps(format_epoch_second(second))
            self._hour = second - second % 3600
            self._second = second
        parts.append(self._time)
        if exchange.path is not None:
            parts.append(_PATH_KEY + dumps(exchange.path))
        if exchange.status is not None:
            parts.append(_STATUS % exchange.status)
        if exchange.upstream_latency is not None:
            parts.append(_LATENCY_KEY + dumps(round(exchange.upstream_latency * 1000.0, 3)))
        if exchange.truncated:
            parts.append(_TRUNCATED)
        if exchange.extra_metadata:
            parts.append(b"," + dumps(exchange.extra_metadata)[1:-1])
        parts.append(_CLOSE)
        return Line(self._hour, b"".join(parts))

    def _payload(
        self, parts: list[bytes], forms: _Forms, mode: str, content_type: str, body: bytes
    ) -> None:
        """Append one side's JSON object to `parts`."""
        if self._filter is not None:
            body = self._filter(content_type, body)
        found = forms.get(content_type)
        if found is None:
            found = self._form(forms, mode, content_type)
        head, text_tail = found
        parts.append(head)
        if text_tail is not None:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                pass  # not text whatever its declared type: BASE64
            else:
                parts.append(orjson.dumps(text))
                parts.append(text_tail)
                return
        parts.append(_QUOTE)
        parts.append(base64.b64encode(body))
        parts.append(_BASE64_TAIL)

    def _assembled_payload(self, parts: list[bytes], content_type: str, body: bytes) -> None:
        """An assembled stream's output side: the type as observed (text/event-stream), the data
        the equivalent JSON response, redacted as JSON."""
        if self._filter is not None:
            body = self._filter(ASSEMBLED_TYPE, body)
        parts.append(
            b'{"observedContentType":%s,"mode":"OUTPUT","data":' % orjson.dumps(content_type)
        )
        parts.append(orjson.dumps(body.decode("utf-8", errors="replace")))
        parts.append(b',"encoding":"JSON"}')

    def _form(self, forms: _Forms, mode: str, content_type: str) -> tuple[bytes, bytes | None]:
        # Key order is SageMaker's: observedContentType, mode, data, encoding.
        if len(forms) >= _FORM_CACHE_MAX:
            forms.clear()
        head = b'{"observedContentType":%s,"mode":"%s","data":' % (
            orjson.dumps(content_type),
            mode.encode(),
        )
        form = self.format
        encoding = text_encoding(content_type, form.csv_types, form.json_types)
        tail = b',"encoding":"%s"}' % encoding.value.encode() if encoding else None
        found = forms[content_type] = (head, tail)
        return found


# (request side, response side) -> what a record made by `build_record` holds.
_SIDES = {
    (request, response): replace(BOTH_SIDES, input=request, output=response)
    for request in (False, True)
    for response in (False, True)
}
# Encoders keep state (content types seen), so `build_record` keeps one per thread and format:
# never shared between threads, and not rebuilt for each of the millions of lines a bench makes.
_THREAD = threading.local()


def _encoder(form: RecordFormat) -> RecordEncoder:
    encoders: dict[RecordFormat, RecordEncoder] | None = getattr(_THREAD, "encoders", None)
    if encoders is None:
        encoders = _THREAD.encoders = {}
    encoder = encoders.get(form)
    if encoder is None:
        if len(encoders) >= 16:
            encoders.clear()
        encoder = encoders[form] = RecordEncoder(form)
    return encoder


def build_record(
    *,
    inference_time: datetime,
    request: Payload | None,
    response: Payload | None,
    inference_id: str | None = None,
    event_id: str | None = None,
    extensions: Mapping[str, Any] | None = None,
    csv_types: Collection[str] = DEFAULT_CSV_TYPES,
    json_types: Collection[str] = DEFAULT_JSON_TYPES,
) -> bytes:
    """One capture record as a JSON line, `\\n`-terminated, byte-compatible with SageMaker's:
    the line `RecordEncoder` writes, with `extensions` (further keys) ending eventMetadata."""
    encoder = _encoder(RecordFormat(frozenset(csv_types), frozenset(json_types)))
    exchange = Exchange(
        inference_time.timestamp(),
        None,
        inference_id=inference_id,
        capture=_SIDES[request is not None, response is not None],
        event_id=event_id or str(uuid.uuid4()),
    )
    if request is not None:
        exchange.request_type, exchange.request_body = request.content_type, request.body
    if response is not None:
        exchange.response_type, exchange.response_body = response.content_type, response.body
    line = encoder.line(exchange).data
    if not extensions:
        return line
    # `{"k":v,...}` -> `,"k":v,...` spliced in before eventMetadata's closing brace.
    more = orjson.dumps(dict(extensions))[1:-1]
    return line[: -len(_CLOSE)] + b"," + more + _CLOSE
