"""The `inference_id,label` rows `ground-truth` posts, read one line at a time.

CSV rows are read line by line, never across lines: a label row is one line, so a quote that
does not close on its line is a stray quote, reported with its line number instead of swallowing
the rows after it. Every line must be UTF-8; the first error stops the command (nothing is
written), and names the file and the line.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import orjson

from analyzer.errors import DatasetError
from analyzer.reading import storage
from analyzer.reading.datasets import detect_format
from analyzer.reading.labelled_rows import iter_rows

ID_KEYS = ("inference_id", "inferenceId", "event_id", "eventId")


def label_pairs(url: str, fmt: str | None = None) -> Iterator[tuple[str, Any]]:
    """(inference_id, label) of each row of a CSV, JSON Lines or Parquet file, in order."""
    fmt = fmt or detect_format(url)
    if fmt == "parquet":
        for number, row in enumerate(iter_rows(url, fmt), 1):
            yield _keyed_pair(row, f"{url} row {number}")
        return
    if fmt not in ("csv", "jsonl"):
        raise DatasetError(f"--format must be csv, jsonl or parquet, got {fmt!r}")
    with storage.local_copy(url) as path, _open(path) as handle:
        try:
            yield from _pairs(handle, url, fmt)
        except (OSError, EOFError, zlib.error) as exc:  # a damaged .gz file
            raise DatasetError(f"cannot read {url}: {exc}") from exc


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _pairs(handle: IO[bytes], url: str, fmt: str) -> Iterator[tuple[str, Any]]:
    first = True
    for number, raw in enumerate(handle, 1):
        text = _utf8_line(raw, url, number)
        if first:
            text = text.removeprefix("\ufeff")  # spreadsheets save UTF-8 with a byte-order mark
        if not text.strip():
            continue
        where = f"{url} line {number}"
        if fmt == "jsonl":
            yield _keyed_pair(_json_object(text, where), where)
        else:
            values = _csv_values(text, where)
            if not (first and values[0].strip() in ID_KEYS):  # a header row
                yield _csv_pair(values, where)
        first = False


def _utf8_line(raw: bytes, url: str, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{url} line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
            f"{exc.start + 1}); save the file as UTF-8"
        ) from None


def _csv_values(text: str, where: str) -> list[str]:
    try:
        values = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration) as exc:
        raise DatasetError(
            f"{where} is not one CSV row ({exc}): a stray quote? a label row must hold on one line"
        ) from None
    return values


def _csv_pair(values: list[str], where: str) -> tuple[str, str]:
    if len(values) < 2:
        raise DatasetError(f"{where} has {len(values)} column; expected inference_id,label")
    event_id, label = values[0].strip(), values[1].strip()
    if not event_id or not label:
        raise DatasetError(f"{where} has an empty {'inference_id' if not event_id else 'label'}")
    return event_id, label


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        row = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DatasetError(f"{where} is not JSON: {exc}") from None
    if not isinstance(row, dict):
        raise DatasetError(f"{where} is a JSON {type(row).__name__}; expected an object")
    return row


def _keyed_pair(row: dict[str, Any], where: str) -> tuple[str, Any]:
    key = next((k for k in ID_KEYS if k in row), None)
    if key is None or "label" not in row:
        raise DatasetError(f"{where} needs inference_id and label keys")
    if row[key] in (None, "") or row["label"] in (None, ""):
        raise DatasetError(f"{where} has an empty {key if row[key] in (None, '') else 'label'}")
    return str(row[key]), row["label"]
