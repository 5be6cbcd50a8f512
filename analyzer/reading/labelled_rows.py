"""Rows of a small tabular file as dicts: CSV (with or without a header), JSON Lines, Parquet.

Used by `quality-baseline` (a validation set of label, prediction and score columns) and by
`ground-truth` (rows of inference_id,label). A headerless CSV names its columns `_c0, _c1, ...`
and also answers to their index (`"0"`), as `--inference-attribute 0` does.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from analyzer.errors import DatasetError
from analyzer.reading import storage
from analyzer.reading.datasets import default_column_names, detect_format, jsonl_rows


def iter_rows(url: str, fmt: str | None = None, header: bool = True) -> Iterator[dict[str, Any]]:
    """Every row of the file; DatasetError names the line that cannot be read."""
    fmt = fmt or detect_format(url)
    with storage.local_copy(url) as path:
        if fmt == "parquet":
            yield from _parquet_rows(path)
            return
        if fmt not in ("csv", "jsonl"):
            raise DatasetError(f"--format must be csv, jsonl or parquet, got {fmt!r}")
        with _open(path) as handle:
            try:
                yield from jsonl_rows(handle, url) if fmt == "jsonl" else _csv_rows(handle, header)
            except UnicodeDecodeError:
                raise DatasetError(f"{url} {_first_bad_line(path)}; save it as UTF-8") from None


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _first_bad_line(path: Path) -> str:
    """Where the text stops being UTF-8 (the decoder reads ahead, so its position is a chunk's)."""
    with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number} is not UTF-8 text (byte 0x{line[exc.start]:02x})"
    return "is not UTF-8 text"


def _csv_rows(handle: IO[str], header: bool) -> Iterator[dict[str, Any]]:
    reader = csv.reader(handle)
    names: list[str] | None = None
    for values in reader:
        if not values or not any(v.strip() for v in values):
            continue
        if names is None:
            names = [v.strip() for v in values] if header else default_column_names(len(values))
            if header:
                continue
        row: dict[str, Any] = dict(zip(names, values, strict=False))
        if not header:
            row.update({str(i): v for i, v in enumerate(values)})
        yield row


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError("reading Parquet needs pyarrow; pip install pyarrow") from None
    for batch in pq.ParquetFile(path).iter_batches():
        yield from batch.to_pylist()
