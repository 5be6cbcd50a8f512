"""Baseline datasets: CSV (with or without a header), JSON Lines and Parquet, local or on S3.

Files are read in chunks of rows, which the engine (analyzer.engines.local.profile_dataset) feeds
to a `DatasetProfile`, so a dataset never has to fit in memory (an S3 object is first downloaded
to a temporary file). CSV values reach the profile as
text and are typed as Deequ does; JSON Lines values keep their JSON types (nested objects and
lists flattened to dotted names as monitoring does for captured JSON); Parquet columns keep
their Arrow types (integers Integral, floats Fractional, strings typed from their text).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from analyzer.errors import DatasetError
from analyzer.profiling.dataset import ColumnValues
from analyzer.reading import arrow_csv

FORMATS = ("csv", "jsonl", "parquet")
CHUNK_ROWS = 65_536
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

Progress = Callable[[int], None]
Chunk = tuple[dict[str, ColumnValues], int]


def default_column_names(count: int) -> list[str]:
    """SageMaker's (Spark's) names for headerless CSV columns: `_c0, _c1, ...`."""
    return [f"_c{i}" for i in range(count)]


def detect_format(url: str) -> str:
    """The dataset format from the file name (`.gz` allowed after csv/jsonl extensions)."""
    name = url.rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    fmt = _EXTENSIONS.get(suffix)
    if fmt is None:
        raise DatasetError(
            f"cannot tell the format of {url} from its name; pass --format csv, jsonl or parquet"
        )
    return fmt


def arrow_csv_chunks(
    path: Path, url: str, header: bool, columns: Sequence[str] | None
) -> Iterator[Chunk]:
    """Chunks of CSV text columns read by Arrow; `arrow_csv.FallBack` when it cannot."""
    with open_text(path, url) as handle:
        reader = csv.reader(handle)
        try:
            first = _next_row(reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise arrow_csv.FallBack(str(exc)) from exc
        # Arrow skips physical rows: the header must be the file's single first line.
        if first is None or reader.line_num != 1:
            raise arrow_csv.FallBack("the first row is not on the first line")
    if header:
        names = _header_names(first, columns, url)
    else:
        names = list(columns) if columns else default_column_names(len(first))
    for values, rows in arrow_csv.chunks(path, names, skip_rows=1 if header else 0):
        yield dict(values), rows


def _header_names(first: list[str], columns: Sequence[str] | None, url: str) -> list[str]:
    header_names = [n.strip() or f"_c{i}" for i, n in enumerate(first)]
    if columns is not None and len(columns) != len(header_names):
        raise DatasetError(
            f"--columns names {len(columns)} columns but the header of {url} has "
            f"{len(header_names)}"
        )
    names = list(columns) if columns else header_names
    _check_unique(names, url)
    return names


@contextlib.contextmanager
def open_text(path: Path, url: str) -> Iterator[IO[str]]:
    """A dataset file as text (gzip-compressed when its name ends in .gz)."""
    # utf-8-sig drops a byte-order mark that spreadsheet programs put in front of the header.
    if url.lower().endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as packed:
            yield packed
    else:
        with path.open(encoding="utf-8-sig", newline="") as plain:
            yield plain


def csv_chunks(
    handle: IO[str],
    url: str,
    header: bool,
    columns: Sequence[str] | None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Chunk]:
    """Chunks of CSV rows as text columns; blank lines are skipped, ragged rows are errors."""
    reader = csv.reader(handle)
    names: list[str] | None = list(columns) if columns else None
    try:
        if header:
            first = _next_row(reader)
            if first is None:
                return
            names = _header_names(first, columns, url)
        rows: list[list[str]] = []
        for row in reader:
            if not row:
                continue
            if names is None:
                names = default_column_names(len(row))
            if len(row) != len(names):
                raise DatasetError(
                    f"{url} line {reader.line_num} has {len(row)} fields, expected {len(names)}; "
                    "every row needs the same number of columns"
                )
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield _text_columns(names, rows), len(rows)
                rows = []
        if rows and names is not None:
            yield _text_columns(names, rows), len(rows)
    except csv.Error as exc:
        raise DatasetError(f"{url} is not valid CSV (line {reader.line_num}): {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{url} is not UTF-8 text: {exc}") from exc


def _next_row(reader: Any) -> list[str] | None:
    for row in reader:
        if row:
            return list(row)
    return None


def _check_unique(names: Sequence[str], url: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DatasetError(f"{url}: column name {name!r} appears twice in the header")
        seen.add(name)


def _text_columns(names: Sequence[str], rows: list[list[str]]) -> dict[str, ColumnValues]:
    transposed = zip(*rows, strict=True)
    return {
        name: np.asarray(values, dtype=str) for name, values in zip(names, transposed, strict=True)
    }


def jsonl_rows(handle: IO[str], url: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines text, one a line (blank lines skipped)."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DatasetError(f"{url} line {number} is not JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise DatasetError(
                f"{url} line {number} is a JSON {type(row).__name__}; each line must be an "
                "object of feature names to values"
            )
        yield row


def jsonl_batches(
    handle: IO[str], url: str, chunk_rows: int = CHUNK_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """Batches of JSON Lines objects as read (the engine turns them into columns)."""
    rows: list[dict[str, Any]] = []
    try:
        for row in jsonl_rows(handle, url):
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield rows
                rows = []
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{url} is not UTF-8 text: {exc}") from exc
    if rows:
        yield rows


def parquet_batches(path: Path, url: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """A Parquet file's Arrow record batches (the engine types their columns)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetError(
            "reading Parquet needs pyarrow: pip install 'infertap[parquet]'"
        ) from exc
    try:
        parquet = pq.ParquetFile(path)
        yield from parquet.iter_batches(batch_size=chunk_rows)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{url} is not a readable Parquet file: {exc}") from exc
