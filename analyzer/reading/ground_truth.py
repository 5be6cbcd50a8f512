"""SageMaker ground-truth records: parse and write them, list the label hours of a window.

One record a line, under `{root}/YYYY/MM/DD/HH/*.jsonl` (the hour the labels were written):
`{"groundTruthData":{"data":"1","encoding":"CSV"},"eventMetadata":{"eventId":"<id>"},
"eventVersion":"0"}`. `encoding` is CSV (the label as text), JSON (a JSON document holding the
label) or BASE64 (the label's bytes, read as CSV text).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.reading.storage import ObjectInfo
from analyzer.reading.streamed_write import write_stream
from sidecar.common.layout import file_name, hour_of, hours_between

EVENT_VERSION = "0"
ENCODINGS = ("CSV", "JSON", "BASE64")


class LabelError(ValueError):
    """A ground-truth line that cannot be read; counted as an unreadable label."""


def label_record(event_id: str, label: object, encoding: str = "CSV") -> bytes:
    """One ground-truth record as a `\\n`-terminated JSON line, SageMaker's key order."""
    if encoding == "CSV":
        data = label_text(label)
    elif encoding == "JSON":
        data = orjson.dumps(label).decode()
    elif encoding == "BASE64":
        data = base64.b64encode(label_text(label).encode()).decode("ascii")
    else:
        raise ValueError(f"label encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    record = {
        "groundTruthData": {"data": data, "encoding": encoding},
        "eventMetadata": {"eventId": event_id},
        "eventVersion": EVENT_VERSION,
    }
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def label_text(label: object) -> str:
    """A label as CSV text: numbers without a useless `.0`, booleans as 1/0."""
    if isinstance(label, bool):
        return "1" if label else "0"
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label).strip()


def parse_label(line: bytes) -> tuple[str, Any]:
    """`(eventId, label)` of one ground-truth line; the label is text or a JSON value."""
    try:
        raw = orjson.loads(line)
        truth = raw["groundTruthData"]
        event_id = raw["eventMetadata"]["eventId"]
        data = truth["data"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise LabelError(f"not a ground-truth record: {exc}") from None
    if not isinstance(event_id, str) or not event_id or not isinstance(data, str):
        raise LabelError("eventMetadata.eventId and groundTruthData.data must be strings")
    encoding = truth.get("encoding", "CSV")
    if encoding == "CSV":
        return event_id, _first_csv_value(data)
    if encoding == "JSON":
        try:
            return event_id, _json_label(orjson.loads(data))
        except orjson.JSONDecodeError:
            raise LabelError("groundTruthData marked JSON is not JSON") from None
    if encoding == "BASE64":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise LabelError("groundTruthData marked BASE64 is not base64 UTF-8 text") from None
        return event_id, _first_csv_value(text)
    raise LabelError(f"unknown groundTruthData encoding {encoding!r}")


def _first_csv_value(text: str) -> str:
    value = text.strip().split("\n", 1)[0].split(",", 1)[0].strip().strip('"')
    if not value:
        raise LabelError("groundTruthData.data is empty")
    return value


def _json_label(document: Any) -> Any:
    """A JSON label: a scalar, a one-element list, or an object with a `label` key."""
    if isinstance(document, list) and len(document) == 1:
        document = document[0]
    if isinstance(document, dict) and "label" in document:
        document = document["label"]
    if isinstance(document, dict | list) or document is None:
        raise LabelError('a JSON label must be a scalar, [scalar] or {"label": scalar}')
    return document


def label_hour_prefixes(root: str, start: datetime, end: datetime) -> list[str]:
    """The hour folders `{root}/YYYY/MM/DD/HH/` whose hours start in [start, end)."""
    prefixes = []
    for hour in hours_between(start, end):
        prefix = storage.join(root, f"{hour:%Y/%m/%d/%H}")
        prefixes.append(prefix + "/" if storage.is_s3(prefix) else prefix)
    return prefixes


def list_label_files(root: str, start: datetime, end: datetime) -> list[ObjectInfo]:
    """The `.jsonl` files of the label hours in [start, end), sorted by URL (oldest first)."""
    return storage.run_sync(_alist(label_hour_prefixes(root, start, end)))


async def _alist(prefixes: list[str]) -> list[ObjectInfo]:
    found: list[ObjectInfo] = []
    for prefix in prefixes:
        try:
            found.extend(await storage.list_objects(prefix))
        except AnalyzerError as exc:
            raise AnalyzerError(f"cannot list ground truth under {prefix}: {exc}") from exc
    return sorted((f for f in found if f.url.endswith(".jsonl")), key=lambda f: f.url)


def write_labels(
    destination: str,
    labels: Iterable[tuple[str, object]],
    written_at: datetime | None = None,
    encoding: str = "CSV",
) -> tuple[str, int]:
    """Write `(inference_id, label)` pairs as one file in the hour folder of `written_at`.

    Returns the file's URL and the number of records. The pairs are streamed to the file (memory
    does not grow with their number); if they raise, no file is written. The Python form of
    `infertap-analyzer ground-truth`; the analyzer reads the file back with `parse_label`.
    """
    moment = (written_at or datetime.now(UTC)).astimezone(UTC)
    url = storage.join(destination, f"{hour_of(moment):%Y/%m/%d/%H}", file_name(moment))
    count = 0

    def records() -> Iterator[bytes]:
        nonlocal count
        for event_id, label in labels:
            count += 1
            yield label_record(str(event_id), label, encoding)
        if count == 0:
            raise AnalyzerError("no labels to write; give at least one inference_id,label row")

    write_stream(url, records())
    return url, count
