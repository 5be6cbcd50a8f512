"""Baseline datasets on Spark: Spark's readers, one profile per partition, merged here.

CSV is read with every column as text (typed from its text as the local engine does, so both
give the same statistics); JSON Lines as lines of text parsed by the project's reader (values
keep their JSON types, nested objects become dotted names); Parquet with its own types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analyzer.engines.spark import adapter, native, partitions
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
    names = list(frame.columns) if fmt != "jsonl" else []
    # Typed numbers (Parquet) are sketched by Spark itself where it can; the rest in Python.
    sketched = native.numeric_columns(frame) if fmt == "parquet" and native.enabled(spark) else {}
    rest = [name for name in names if name not in sketched]
    try:
        python_part = frame.select(*map(_quoted, rest)) if sketched else frame
        profile = _profile_partitions(python_part, profile_partition, rest)
        if sketched:
            rows, features = native.profile_numeric(frame, sketched)
            by_name = {feature.name: feature for feature in features}
            ordered = [by_name[n] if n in by_name else profile.feature(n) for n in names]
            profile = adapter.profile_of(rows, ordered)
    except DatasetError:
        raise
    except Exception as exc:  # Spark wraps executor errors in its own (Java or Python) types
        raise DatasetError(f"Spark could not profile {url}: {_first_line(exc)}") from exc
    if profile.item_count == 0:
        raise DatasetError(f"{url} has no data rows; a baseline needs at least one")
    return profile


def _profile_partitions(
    frame: Any, profile_partition: partitions.ProfilePartition, names: list[str]
) -> adapter.DatasetProfile:
    """Each partition profiled by `profile_partition`, merged in partition order."""
    profile = adapter.DatasetProfile(names)
    if frame.columns:  # none left when Spark sketched every column itself
        for row in frame.mapInArrow(profile_partition, partitions.PROFILE_SCHEMA).collect():
            profile.absorb(adapter.DatasetProfile.from_bytes(bytes(row.profile)))
    return profile


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


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
