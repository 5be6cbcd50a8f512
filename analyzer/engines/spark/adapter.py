"""The Spark engine's only calls into the rest of the analyzer: profiles, readers, decoders.

Every entry point the executors and the driver use is named here once, so a restructure of
analyzer.decoding / analyzer.engines / analyzer.reading re-points this module and nothing else.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
from datasketches import kll_doubles_sketch

from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines import local
from analyzer.engines.local import (
    PartialProfile,
    Profiled,
    merge,
    profile_capture_files,
    profile_files_here,
    split_by_size,
)
from analyzer.profiling.dataset import ColumnValues, DatasetProfile
from analyzer.profiling.feature import FeatureProfile
from analyzer.profiling.kll import KLL_K
from analyzer.profiling.types import classify_arrow
from analyzer.reading import datasets
from analyzer.reading.storage import ObjectInfo
from analyzer.reading.window import TimeWindow

__all__ = [
    "KLL_K",
    "DatasetProfile",
    "DecodeOptions",
    "ObjectInfo",
    "PartialProfile",
    "Profiled",
    "TimeWindow",
    "arrow_values",
    "detect_format",
    "fix_output_width",
    "json_line_columns",
    "merge_parts",
    "numeric_feature",
    "profile_capture_share",
    "profile_of",
    "split_files",
    "text_columns",
]

FORMATS = datasets.FORMATS


def detect_format(url: str) -> str:
    """The dataset format from the file name, as the local engine tells it."""
    return datasets.detect_format(url)


def text_columns(batch: Any) -> dict[str, ColumnValues]:
    """CSV text columns of an Arrow batch, classified as Deequ does (nulls and "" missing)."""
    return {name: classify_arrow(batch.column(i)) for i, name in enumerate(batch.schema.names)}


def arrow_values(batch: Any) -> dict[str, ColumnValues]:
    """Typed Arrow columns (Parquet) as the local Parquet reader profiles them."""
    import pyarrow as pa

    return {
        name: local.arrow_column(batch.column(i), pa) for i, name in enumerate(batch.schema.names)
    }


def json_line_columns(lines: Sequence[str], where: str) -> Iterator[tuple[dict[str, Any], int]]:
    """JSON Lines text as the local reader's columns (nested objects flattened to a.b)."""
    handle = io.StringIO("\n".join(lines))
    for rows in datasets.jsonl_batches(handle, where, chunk_rows=max(1, len(lines))):
        yield local.json_columns(rows), len(rows)


def profile_capture_share(
    urls: Sequence[str],
    options: DecodeOptions,
    concurrency: int,
    window: TimeWindow | None,
) -> PartialProfile:
    """Read, decode and profile capture files with the local engine's readers (bytes out)."""
    return profile_capture_files(urls, options, concurrency, window)


def fix_output_width(first_url: str, options: DecodeOptions) -> DecodeOptions:
    """Fix the output width from the first file, so every executor lines columns up alike."""
    if options.output_columns is not None:
        return options
    _, probe = profile_files_here([first_url], options, 1)
    return dataclasses.replace(options, output_columns=probe.output_width)


def split_files(files: list[ObjectInfo], shares: int) -> list[list[str]]:
    """Files in `shares` lists of similar total size."""
    return split_by_size(files, shares)


def merge_parts(parts: list[PartialProfile]) -> Profiled:
    """The executors' partial profiles merged, their counts summed."""
    return merge(parts)


def update(profile: DatasetProfile, columns: Mapping[str, ColumnValues], rows: int) -> None:
    """Absorb a batch of columns into `profile`."""
    profile.update_columns(columns, rows)


def numeric_feature(
    name: str,
    *,
    integral: bool,
    stats: Mapping[str, Any],
    sketch: bytes | None,
) -> FeatureProfile:
    """A typed numeric column's profile from Spark's aggregates and its KLL sketch's bytes.

    As the local Parquet path has it: nulls and NaN missing, infinities non-finite (and missing),
    every present value Integral for integer types and Fractional otherwise, no texts kept.
    """
    count = int(stats["count"])
    feature = FeatureProfile(name=name, missing=int(stats["missing"]))
    feature.add_non_finite(int(stats["non_finite"]))
    if count == 0:
        return feature
    total = float(stats["sum"])
    feature.add_moments(
        count, total, float(stats["var_pop"]) * count, float(stats["min"]), float(stats["max"])
    )
    feature.integral, feature.fractional = (count, 0) if integral else (0, count)
    feature.numeric_texts = None
    assert sketch is not None
    feature.sketch = kll_doubles_sketch.deserialize(bytes(sketch))
    return feature


def profile_of(item_count: int, features: Sequence[FeatureProfile]) -> DatasetProfile:
    """A DatasetProfile of `item_count` rows holding `features`, through its serialised form."""
    raw = orjson.loads(DatasetProfile().to_bytes())
    raw["item_count"] = item_count
    raw["features"] = [feature.to_json() for feature in features]
    return DatasetProfile.from_bytes(orjson.dumps(raw))
