"""Baseline datasets on Spark: Spark's readers, one profile per partition, merged here.

CSV is read with every column as text (typed from its text as the local engine does, so both
give the same statistics); JSON Lines as lines of text parsed by the project's reader (values
keep their JSON types, nested objects become dotted names); Parquet with its own types.
Bad input fails as it does locally, in one line: a ragged CSV row names its file and the row,
and text that is not UTF-8 its file and byte (`text_check`).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from typing import Any

from analyzer.engines.spark import adapter, native, partitions, text_check
from analyzer.errors import DatasetError

log = logging.getLogger("infertap.analyzer.spark")
# Spark's words for a ragged row under FAILFAST, and the file it was reading.
_MALFORMED_CSV = re.compile(
    r"\[MALFORMED_CSV_RECORD\] Malformed CSV record: (.*?)(?: SQLSTATE:|$)", re.M
)
_READING = re.compile(r"Encountered error while reading file (\S+?)\.?\s")
_FRAME = re.compile(r"\s*(at |\.\.\. \d+ more|File \")")


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
        profile = _profile_text_checked(spark, url, python_part, profile_partition, rest)
        if sketched:
            rows, features = native.profile_numeric(frame, sketched)
            by_name = {feature.name: feature for feature in features}
            ordered = [by_name[n] if n in by_name else profile.feature(n) for n in names]
            profile = adapter.profile_of(rows, ordered)
    except DatasetError:
        raise
    except Exception as exc:  # Spark wraps executor errors in its own (Java or Python) types
        log.debug("Spark failed", exc_info=True)  # the Java and Python stacks, when asked for
        raise DatasetError(_failure(url, exc, len(names))) from exc
    if profile.item_count == 0:
        raise DatasetError(f"{url} has no data rows; a baseline needs at least one")
    return profile


def _profile_text_checked(
    spark: Any,
    url: str,
    frame: Any,
    profile_partition: partitions.ProfilePartition,
    names: list[str],
) -> adapter.DatasetProfile:
    """`_profile_partitions`; CSV that is not UTF-8 is a DatasetError, as it is locally."""
    try:
        return _profile_partitions(frame, profile_partition, names)
    except Exception as exc:
        text = str(exc)
        if text_check.REPLACED not in text and "UnicodeDecodeError" not in text:
            raise
        problem = text_check.first_problem(spark, url)
        if problem is not None:
            raise DatasetError(problem) from None
        if text_check.REPLACED not in text:
            raise
    return _profile_partitions(frame, partitions.profile_text_as_read, names)


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


def _failure(url: str, exc: BaseException, columns: int) -> str:
    """One line for a failed Spark job: a ragged CSV row named as locally, else the first line
    of the error that is not a stack frame."""
    text = str(exc)
    row = _MALFORMED_CSV.search(text)
    if row is None:
        return f"Spark could not profile {url}: {_first_line(exc)}"
    file = _READING.search(text)
    record = row.group(1)
    fields = len(next(csv.reader([record]), []))
    return (
        f"{file.group(1) if file else url} row {_short(record)!r} has {fields} fields, expected "
        f"{columns}; every row needs the same number of columns"
    )


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if not _FRAME.match(line)]
    for line in lines:
        if ("Error" in line or "Exception" in line) and ":" in line:
            return line[:500]
    return lines[0][:500] if lines else type(exc).__name__
