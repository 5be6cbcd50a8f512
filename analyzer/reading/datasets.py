"""Baseline datasets: CSV (with or without a header), JSON Lines and Parquet, local or on S3.

Files are read in chunks of rows and fed to a `DatasetProfile`, so a dataset never has to fit in
memory (an S3 object is first downloaded to a temporary file). CSV values reach the profile as
text and are typed as Deequ does; JSON Lines values keep their JSON types (nested objects and
lists flattened to dotted names as monitoring does for captured JSON); Parquet columns keep
their Arrow types (integers Integral, floats Fractional, strings typed from their text).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from analyzer.decoding.json_rows import flatten
from analyzer.errors import DatasetError, StorageError
from analyzer.profiling.dataset import ColumnValues, DatasetProfile
from analyzer.reading import arrow_csv, storage

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


def profile_dataset(
    url: str,
    *,
    fmt: str | None = None,
    header: bool = True,
    columns: Sequence[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    engine: str = "auto",
) -> DatasetProfile:
    """Profile a whole dataset; DatasetError if it is missing, empty, ragged or unreadable.

    `columns` names the columns of a headerless CSV (default `_c0, _c1, ...`); with a header it
    must match the header's length and replaces its names. `engine` picks the CSV reader:
    "arrow" (pyarrow, fast), "python" (the csv module) or "auto" (arrow when installed, and the
    csv module for anything arrow cannot read). Both give the same statistics, KLL sketches
    agreeing within their rank error (compaction is randomised).
    """
    fmt = fmt or detect_format(url)
    if fmt not in FORMATS:
        raise DatasetError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    use_arrow = fmt == "csv" and engine != "python" and arrow_csv.available()
    try:
        with storage.local_copy(url) as path:
            profile = None
            if use_arrow:
                try:
                    profile = _profile(_arrow_chunks(path, url, header, columns), progress)
                except arrow_csv.FallBack as exc:
                    if engine == "arrow":
                        raise DatasetError(
                            f"the Arrow CSV reader cannot read {url}: {exc}"
                        ) from exc
            if profile is None:
                chunks = _chunks(path, url, fmt, header, columns, chunk_rows)
                profile = _profile(chunks, progress)
    except StorageError as exc:
        raise DatasetError(f"cannot read the dataset: {exc}") from exc
    if profile.item_count == 0:
        raise DatasetError(f"{url} has no data rows; a baseline needs at least one")
    return profile


def _profile(chunks: Iterator[Chunk], progress: Progress | None) -> DatasetProfile:
    profile = DatasetProfile()
    for values, rows in chunks:
        profile.update_columns(values, rows)
        if progress is not None:
            progress(profile.item_count)
    return profile


def _arrow_chunks(
    path: Path, url: str, header: bool, columns: Sequence[str] | None
) -> Iterator[Chunk]:
    with _open_text(path, url) as handle:
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


def _chunks(
    path: Path,
    url: str,
    fmt: str,
    header: bool,
    columns: Sequence[str] | None,
    chunk_rows: int,
) -> Iterator[Chunk]:
    if fmt == "csv":
        with _open_text(path, url) as handle:
            yield from csv_chunks(handle, url, header, columns, chunk_rows)
    elif fmt == "jsonl":
        with _open_text(path, url) as handle:
            yield from jsonl_chunks(handle, url, chunk_rows)
    else:
        yield from parquet_chunks(path, url, chunk_rows)


@contextlib.contextmanager
def _open_text(path: Path, url: str) -> Iterator[IO[str]]:
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


def jsonl_chunks(handle: IO[str], url: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Chunks of JSON Lines objects as columns of JSON values (absent keys are missing)."""
    rows: list[dict[str, Any]] = []
    try:
        for row in jsonl_rows(handle, url):
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield _json_columns(rows), len(rows)
                rows = []
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{url} is not UTF-8 text: {exc}") from exc
    if rows:
        yield _json_columns(rows), len(rows)


def _json_columns(rows: list[dict[str, Any]]) -> dict[str, ColumnValues]:
    # Nested objects and lists get the dotted names monitoring gives captured JSON (a.b, c.0).
    rows = [flatten(row) for row in rows]
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            names.setdefault(key)
    return {name: [row.get(name) for row in rows] for name in names}


def parquet_chunks(path: Path, url: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Chunks of a Parquet file's record batches, typed from the Arrow schema."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetError(
            "reading Parquet needs pyarrow: pip install 'infertap[parquet]'"
        ) from exc
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            columns = {
                name: _arrow_column(batch.column(i), pa)
                for i, name in enumerate(batch.schema.names)
            }
            yield columns, batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{url} is not a readable Parquet file: {exc}") from exc


def _arrow_column(column: Any, pa: Any) -> ColumnValues:
    kind = column.type
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_integer(kind):
        values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        return np.ma.MaskedArray(values, mask=nulls)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        floats = column.cast(pa.float64()).fill_null(float("nan"))
        return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_boolean(kind):
        return [None if v is None else bool(v) for v in column.to_pylist()]
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        column = column.cast(pa.string())
    return list(column.to_pylist())


class ProgressReporter:
    """Reports rows profiled so far at most every `interval` seconds, after the first interval."""

    def __init__(self, emit: Callable[[int, float], None], interval: float = 5.0) -> None:
        self._emit = emit
        self._interval = interval
        self._started = time.monotonic()
        self._last = self._started

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._emit(rows, now - self._started)
