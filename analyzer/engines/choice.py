"""Which engine profiles, chosen in this one place: for a baseline dataset (`baseline
--dataset`) and for a window's capture files (`run`, `schedule`), by --engine local or spark."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines import local
from analyzer.engines.local import Profiled
from analyzer.engines.spark.session import check_engine
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reading.storage import ObjectInfo
from analyzer.reading.window import TimeWindow

# Profile some of a window's files: (files, options, workers, read concurrency, window).
ProfileFiles = Callable[[list[ObjectInfo], DecodeOptions, int, int, TimeWindow | None], Profiled]


def profile_dataset(
    engine: str,
    spark_master: str | None,
    url: str,
    *,
    fmt: str | None,
    header: bool,
    columns: Sequence[str] | None,
    progress: local.Progress | None = None,
) -> DatasetProfile:
    """Profile a baseline dataset on the chosen engine (`progress` is the local engine's)."""
    if check_engine(engine) == "spark":
        from analyzer.engines.spark.datasets import profile_dataset as on_spark
        from analyzer.engines.spark.session import spark_session

        spark = spark_session(spark_master)
        return on_spark(spark, url, fmt=fmt, header=header, columns=columns)
    return local.profile_dataset(url, fmt=fmt, header=header, columns=columns, progress=progress)


def capture_engine(engine: str, spark_master: str | None, workers: int) -> tuple[ProfileFiles, int]:
    """The function profiling a window's files on the chosen engine, and its parallelism."""
    if check_engine(engine) == "spark":
        from analyzer.engines.spark.captures import on_spark

        return on_spark(spark_master)
    return local.profile_files, workers
