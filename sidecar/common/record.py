"""The SageMaker data-capture record: one exchange as one JSON line (DESIGN.md section 2).

Shared by the sidecar, which writes records, and the analyzer, which reads them; the analyzer
imports this module and `sidecar.common.layout` only, never the proxy.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

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


class RecordError(ValueError):
    """A capture line that is not a SageMaker capture record."""


def media_type(content_type: str) -> str:
    """`text/csv; charset=utf-8` -> `text/csv` (lower case, parameters dropped)."""
    return content_type.partition(";")[0].strip().lower()


def encode_body(
    content_type: str,
    body: bytes,
    csv_types: Collection[str] = DEFAULT_CSV_TYPES,
    json_types: Collection[str] = DEFAULT_JSON_TYPES,
) -> tuple[str, Encoding]:
    """Return `(data, encoding)`: text for CSV/JSON media types, base64 for the rest.

    A body that is not valid UTF-8 is always BASE64, whatever its declared type.
    """
    kind = media_type(content_type)
    if kind in csv_types or kind in json_types:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return text, Encoding.CSV if kind in csv_types else Encoding.JSON
    return base64.b64encode(body).decode("ascii"), Encoding.BASE64


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


def payload_json(
    payload: Payload,
    mode: Mode,
    csv_types: Collection[str] = DEFAULT_CSV_TYPES,
    json_types: Collection[str] = DEFAULT_JSON_TYPES,
) -> dict[str, str]:
    data, encoding = encode_body(payload.content_type, payload.body, csv_types, json_types)
    # Key order is SageMaker's: observedContentType, mode, data, encoding.
    return {
        "observedContentType": payload.content_type,
        "mode": mode.value,
        "data": data,
        "encoding": encoding.value,
    }


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
    """One capture record as a JSON line, `\\n`-terminated, byte-compatible with SageMaker's."""
    capture: dict[str, Any] = {}
    if request is not None:
        capture["endpointInput"] = payload_json(request, Mode.INPUT, csv_types, json_types)
    if response is not None:
        capture["endpointOutput"] = payload_json(response, Mode.OUTPUT, csv_types, json_types)
    metadata: dict[str, Any] = {"eventId": event_id or str(uuid.uuid4())}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = format_inference_time(inference_time)
    if extensions:
        metadata.update(extensions)
    record = {"captureData": capture, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


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


def _captured_payload(raw: Any, side: str) -> CapturedPayload | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), str):
        raise RecordError(f"captureData.{side} has no string 'data'")
    return CapturedPayload(
        content_type=str(raw.get("observedContentType", "")),
        data=raw["data"],
        encoding=str(raw.get("encoding", Encoding.BASE64)),
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
        endpoint_input=_captured_payload(capture.get("endpointInput"), "endpointInput"),
        endpoint_output=_captured_payload(capture.get("endpointOutput"), "endpointOutput"),
        metadata=metadata,
    )
