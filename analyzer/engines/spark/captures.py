"""Monitoring runs on Spark: the driver's file list spread over executors, profiles merged here.

Executors read and decode the files with the project's own readers (so s3:// works without the
Hadoop S3 connector) and send back serialised profiles with their counts; the driver merges
them as the local engine merges its processes' profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analyzer.engines.spark import adapter
from analyzer.engines.spark.session import spark_session

SHARES_PER_CORE = 2  # a few shares per core even out files of unequal cost

ProfileFiles = Callable[
    [list[adapter.ObjectInfo], adapter.DecodeOptions, int, int, adapter.TimeWindow | None],
    adapter.Profiled,
]


def profile_files(
    spark: Any,
    files: list[adapter.ObjectInfo],
    options: adapter.DecodeOptions,
    concurrency: int = 16,
    window: adapter.TimeWindow | None = None,
) -> adapter.Profiled:
    """Profile capture files on Spark's executors and merge their profiles."""
    options = adapter.fix_output_width(files[0].url, options)
    cores = max(1, int(spark.sparkContext.defaultParallelism))
    shares = adapter.split_files(files, min(len(files), cores * SHARES_PER_CORE))
    per_share = max(1, concurrency // cores)

    def profile_share(urls: list[str]) -> adapter.PartialProfile:
        return adapter.profile_capture_share(urls, options, per_share, window)

    parts = spark.sparkContext.parallelize(shares, len(shares)).map(profile_share).collect()
    return adapter.merge_parts(parts)


def on_spark(master: str | None) -> tuple[ProfileFiles, int]:
    """A `profile_files` with the local engine's signature, and the cores it runs on."""
    spark = spark_session(master)

    def profile(
        files: list[adapter.ObjectInfo],
        options: adapter.DecodeOptions,
        _workers: int,
        concurrency: int,
        window: adapter.TimeWindow | None,
    ) -> adapter.Profiled:
        return profile_files(spark, files, options, concurrency, window)

    return profile, max(1, int(spark.sparkContext.defaultParallelism))
