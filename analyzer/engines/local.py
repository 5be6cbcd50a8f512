"""The local engine: a baseline dataset profiled in this process (its Spark twin is
engines/spark/datasets.py), and a run's capture files profiled in one process or several, the
partial profiles merged."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from analyzer.decoding.json_rows import flatten
from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines.profiler import CaptureProfiler
from analyzer.errors import DatasetError, StorageError
from analyzer.profiling.dataset import ColumnValues, DatasetProfile
from analyzer.reading import arrow_csv, datasets, storage
from analyzer.reading.captures import iter_files
from analyzer.reading.storage import ObjectInfo
from analyzer.reading.window import TimeWindow
from analyzer.results.counts import RunCounts

Progress = Callable[[int], None]


@dataclass(slots=True)
class PartialProfile:
    """What one process made of its share of the files (picklable, profile as bytes)."""

    profile: bytes
    counts: dict[str, int]  # RunCounts.to_json(), with files_read, bytes and unreadable_files
    output_width: int | None
    unreadable: list[str] = field(default_factory=list)  # "url: reason"


@dataclass(slots=True)
class Profiled:
    """The merged profile of every file, with what reading and decoding them found."""

    profile: DatasetProfile
    output_width: int | None
    counts: RunCounts = field(default_factory=RunCounts)
    unreadable: list[str] = field(default_factory=list)  # "url: reason"


def profile_files(
    files: list[ObjectInfo],
    options: DecodeOptions,
    workers: int = 1,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> Profiled:
    """Profile `files` in up to `workers` processes (each gets a similar number of bytes).

    With several processes the first file is profiled here first: it fixes the output width,
    so every process lines columns up alike, and it is read once.
    """
    workers = min(workers, len(files))
    if workers <= 1:
        here, part = profile_files_here([f.url for f in files], options, concurrency, window)
        return merge([part], here)
    here, first = profile_files_here([files[0].url], options, 1, window)
    if options.output_columns is None and first.output_width is not None:
        options = replace(options, output_columns=first.output_width)
    shares = split_by_size(files[1:], workers)
    per_worker = max(1, concurrency // workers)
    # spawn, not fork: the parent may hold event-loop threads (aiobotocore) that fork would copy.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(shares), mp_context=context) as pool:
        futures = [
            pool.submit(profile_capture_files, share, options, per_worker, window)
            for share in shares
        ]
        parts = [first, *(future.result() for future in futures)]
    return merge(parts, here)


def profile_capture_files(
    urls: Sequence[str],
    options: DecodeOptions,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> PartialProfile:
    """Read and profile capture files; the unit of work of one process (profile as bytes)."""
    profile, part = profile_files_here(urls, options, concurrency, window)
    part.profile = profile.to_bytes()
    return part


def profile_files_here(
    urls: Sequence[str],
    options: DecodeOptions,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> tuple[DatasetProfile, PartialProfile]:
    """Read and profile capture files in this process; the PartialProfile holds no bytes.

    Counts files_read, bytes and unreadable_files (the reading stage's counts).
    """
    profiler = CaptureProfiler(options, window=window)
    counts = profiler.counts
    unreadable: list[str] = []
    for item in iter_files(urls, concurrency):
        if item.data is None:
            counts.unreadable_files += 1
            unreadable.append(f"{item.url}: {item.error}")
            continue
        counts.files_read += 1
        counts.bytes += len(item.data)
        profiler.add_file(item.data)
    profile = profiler.finish()
    return profile, PartialProfile(
        profile=b"",
        counts=counts.to_json(),
        output_width=profiler.decoder.output_width,
        unreadable=unreadable,
    )


def split_by_size(files: list[ObjectInfo], workers: int) -> list[list[str]]:
    """Split files into `workers` lists of similar total size (largest first)."""
    shares: list[list[str]] = [[] for _ in range(workers)]
    sizes = [0] * workers
    for info in sorted(files, key=lambda f: f.size, reverse=True):
        index = sizes.index(min(sizes))
        shares[index].append(info.url)
        sizes[index] += info.size
    return [s for s in shares if s]


def merge(parts: list[PartialProfile], profile: DatasetProfile | None = None) -> Profiled:
    """Merge the processes' profiles (`profile`, when given, is parts[0]'s, made here) and sum
    their counts."""
    if profile is None:
        profile = DatasetProfile.from_bytes(parts[0].profile)
    merged = Profiled(profile=profile, output_width=None)
    for index, part in enumerate(parts):
        if index:
            profile.absorb(DatasetProfile.from_bytes(part.profile))
        merged.counts.add(RunCounts.from_json(part.counts))
        merged.unreadable.extend(part.unreadable)
        if merged.output_width is None:
            merged.output_width = part.output_width
    return merged


def profile_dataset(
    url: str,
    *,
    fmt: str | None = None,
    header: bool = True,
    columns: Sequence[str] | None = None,
    chunk_rows: int = datasets.CHUNK_ROWS,
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
    fmt = fmt or datasets.detect_format(url)
    if fmt not in datasets.FORMATS:
        raise DatasetError(f"--format must be one of {', '.join(datasets.FORMATS)}, got {fmt!r}")
    use_arrow = fmt == "csv" and engine != "python" and arrow_csv.available()
    try:
        with storage.local_copy(url) as path:
            profile = None
            if use_arrow:
                try:
                    chunks = datasets.arrow_csv_chunks(path, url, header, columns)
                    profile = _profile(chunks, progress)
                except arrow_csv.FallBack as exc:
                    if engine == "arrow":
                        raise DatasetError(
                            f"the Arrow CSV reader cannot read {url}: {exc}"
                        ) from exc
            if profile is None:
                profile = _profile(_chunks(path, url, fmt, header, columns, chunk_rows), progress)
    except StorageError as exc:
        raise DatasetError(f"cannot read the dataset: {exc}") from exc
    if profile.item_count == 0:
        raise DatasetError(f"{url} has no data rows; a baseline needs at least one")
    return profile


def _profile(chunks: Iterator[datasets.Chunk], progress: Progress | None) -> DatasetProfile:
    profile = DatasetProfile()
    for values, rows in chunks:
        profile.update_columns(values, rows)
        if progress is not None:
            progress(profile.item_count)
    return profile


def _chunks(
    path: Path,
    url: str,
    fmt: str,
    header: bool,
    columns: Sequence[str] | None,
    chunk_rows: int,
) -> Iterator[datasets.Chunk]:
    """The file's rows as profile columns, read by the format's reader."""
    if fmt == "csv":
        with datasets.open_text(path, url) as handle:
            yield from datasets.csv_chunks(handle, url, header, columns, chunk_rows)
    elif fmt == "jsonl":
        with datasets.open_text(path, url) as handle:
            for rows in datasets.jsonl_batches(handle, url, chunk_rows):
                yield json_columns(rows), len(rows)
    else:
        import pyarrow as pa

        for batch in datasets.parquet_batches(path, url, chunk_rows):
            yield parquet_columns(batch, pa), batch.num_rows


def parquet_columns(batch: Any, pa: Any) -> dict[str, ColumnValues]:
    """An Arrow record batch's columns, typed from its schema."""
    return {name: arrow_column(batch.column(i), pa) for i, name in enumerate(batch.schema.names)}


def json_columns(rows: list[dict[str, Any]]) -> dict[str, ColumnValues]:
    """JSON objects as columns of JSON values (absent keys are missing).

    Nested objects and lists get the dotted names monitoring gives captured JSON (a.b, c.0).
    """
    rows = [flatten(row) for row in rows]
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            names.setdefault(key)
    return {name: [row.get(name) for row in rows] for name in names}


def arrow_column(column: Any, pa: Any) -> ColumnValues:
    """One typed Arrow column as the profile takes it (integers masked where null)."""
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
