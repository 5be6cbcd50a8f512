"""Baseline datasets on Spark: Spark's readers, one profile per partition, merged here.

CSV is read with every column as text (typed from its text as the local engine does, so both
give the same statistics); JSON Lines as lines of text parsed by the project's reader (values
keep their JSON types, nested objects become dotted names); Parquet with its own types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analyzer.engines.spark import adapter, partitions
from analyzer.errors import DatasetError


def profile_dataset(
    spark: Any,
    url: str,
    *,
    fmt: str | None = None,
    header: bool = True,
    columns: Sequence[str] | None = None,
) -> adapter.DatasetProfile:
    """Profile a dataset (a file or a folder of them) on Spark; DatasetError as locally."""
    fmt = fmt or adapter.detect_format(url)
    if fmt not in adapter.FORMATS:
        raise DatasetError(f"--format must be one of {', '.join(adapter.FORMATS)}, got {fmt!r}")
    frame, profile_partition = _read(spark, url, fmt, header, columns)
    try:
        rows = frame.mapInArrow(profile_partition, partitions.PROFILE_SCHEMA).collect()
    except Exception as exc:  # Spark wraps executor errors in its own (Java or Python) types
        raise DatasetError(f"Spark could not profile {url}: {_first_line(exc)}") from exc
    names = list(frame.columns) if fmt != "jsonl" else []
    profile = adapter.DatasetProfile(names)
    for row in rows:
        profile.absorb(adapter.DatasetProfile.from_bytes(bytes(row.profile)))
    if profile.item_count == 0:
        raise DatasetError(f"{url} has no data rows; a baseline needs at least one")
    return profile


def _read(
    spark: Any, url: str, fmt: str, header: bool, columns: Sequence[str] | None
) -> tuple[Any, partitions.ProfilePartition]:
    try:
        if fmt == "csv":
            frame = _read_csv(spark, url, header, columns)
            return frame, partitions.profile_text
        if fmt == "jsonl":
            return spark.read.text(url), partitions.profile_json_lines
        return spark.read.parquet(url), partitions.profile_typed
    except DatasetError:
        raise
    except Exception as exc:  # AnalysisException (path missing), Java I/O errors
        raise DatasetError(f"Spark cannot read the dataset {url}: {_first_line(exc)}") from exc


def _read_csv(spark: Any, url: str, header: bool, columns: Sequence[str] | None) -> Any:
    # Every column as text (no inferSchema); a ragged row fails the job (FAILFAST), as locally.
    frame = (
        spark.read.option("header", header)
        .option("inferSchema", False)
        .option("mode", "FAILFAST")
        .csv(url)
    )
    names = [name.strip() or f"_c{i}" for i, name in enumerate(frame.columns)]
    if columns is not None:
        if len(columns) != len(names):
            raise DatasetError(f"--columns names {len(columns)} columns but {url} has {len(names)}")
        names = list(columns)
    return frame.toDF(*names)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if "Error" in line and ":" in line:
            return line.strip()[:500]
    return text.splitlines()[0][:500] if text else type(exc).__name__
