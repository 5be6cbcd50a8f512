"""The Spark engine against the local one: a baseline and a monitoring run, timed side by side.

Method (printed with the results):
  * Baseline: a CSV of N rows x F features (a label, every third feature an integer, the rest
    decimals of 4 places) on local disk, profiled into statistics by the local engine (one
    process; pyarrow's CSV reader uses its own threads) and by Spark local[2]
    (analyzer.engines.spark.datasets: Spark's CSV reader, mapInArrow, merge on the driver).
  * Monitoring run: M capture records (CSV request of F numbers, one-number response) in files of
    ~8 MiB, profiled by the local engine with 1 and with 2 processes
    (analyzer.engines.local.profile_files) and by Spark local[2]
    (analyzer.engines.spark.captures.profile_files: the file list spread over executors).
  * Spark's session start and first job are timed apart and left out of the engine figures;
    every figure is the best of R repetitions after one warm-up pass. Merge cost: one partition's
    serialised profile read and absorbed on the driver.
  * Paper estimate for 1B rows on N executors of C cores: 1e9 / (Spark per-core rate * N * C),
    plus the start-up measured here, plus one merge per partition (128 MiB splits).

Usage: python bench/spark_engine.py [--rows 2000000] [--features 30] [--records 400000]
       [--repeat 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from analyzer_throughput import HOUR, blobs, write_files

from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines.local import profile_dataset, profile_files
from analyzer.engines.spark import captures as spark_captures
from analyzer.engines.spark import datasets as spark_datasets
from analyzer.engines.spark.session import spark_session
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reading.storage import ObjectInfo
from sidecar.common.record import Payload, build_record

SPLIT_BYTES = 128 * 1024 * 1024  # spark.sql.files.maxPartitionBytes' default


def write_dataset(path: Path, rows: int, features: int) -> None:
    """A CSV of `rows` rows: label, then integers and 4-place decimals, written by pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(1)
    columns: dict[str, Any] = {"label": rng.integers(0, 2, rows)}
    for j in range(features - 1):
        if j % 3 == 0:
            columns[f"f{j}"] = rng.integers(0, 500, rows)
        else:
            columns[f"f{j}"] = np.round(rng.normal(50, 15, rows), 4)
    pacsv.write_csv(pa.table(columns), path)


def capture_lines(count: int, features: int) -> list[bytes]:
    rng = np.random.default_rng(2)
    values = np.round(rng.normal(50, 15, (count, features - 1)), 4)
    lines = []
    for i in range(count):
        request = Payload("text/csv", ",".join(map(str, values[i].tolist())).encode())
        response = Payload("text/csv", str(i % 2).encode())
        lines.append(build_record(inference_time=HOUR, request=request, response=response))
    return lines


def best_seconds(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def merge_seconds(profile: DatasetProfile) -> float:
    data = profile.to_bytes()
    target = DatasetProfile.from_bytes(data)
    return best_seconds(5, lambda: target.absorb(DatasetProfile.from_bytes(data)))


def baseline_figures(spark: Any, folder: Path, rows: int, features: int, repeat: int) -> Any:
    path = folder / "train.csv"
    started = time.perf_counter()
    write_dataset(path, rows, features)
    megabytes = path.stat().st_size / 1e6
    print(f"dataset: {rows:,} rows x {features} features, {megabytes:.0f} MB "
          f"(written in {time.perf_counter() - started:.0f} s)")  # fmt: skip
    local = best_seconds(repeat, lambda: profile_dataset(str(path)))
    spark_datasets.profile_dataset(spark, str(path))  # warm: executors' Python workers import
    spread = best_seconds(repeat, lambda: spark_datasets.profile_dataset(spark, str(path)))
    profile = profile_dataset(str(path))
    return local, spread, megabytes, merge_seconds(profile)


def run_figures(spark: Any, folder: Path, records: int, features: int, repeat: int) -> Any:
    files = blobs(capture_lines(records, features))
    paths = write_files(folder, files)
    infos = [ObjectInfo(p, os.path.getsize(p)) for p in paths]
    options = DecodeOptions(tuple(["y", *(f"x{j}" for j in range(features - 1))]))
    spark_captures.profile_files(spark, infos[:2], options)  # warm the workers
    one = best_seconds(repeat, lambda: profile_files(infos, options, 1))
    two = best_seconds(repeat, lambda: profile_files(infos, options, 2))
    spread = best_seconds(repeat, lambda: spark_captures.profile_files(spark, infos, options))
    return one, two, spread, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="100k rows, 50k records, 1 repeat")
    args = parser.parse_args()
    rows, records, repeat = args.rows, args.records, args.repeat
    if args.quick:
        rows, records, repeat = 100_000, 50_000, 1
    print(__doc__.split("Usage:")[0].strip())
    print(f"\ncpus: {os.cpu_count()}, repetitions: {repeat} (best taken)\n")

    started = time.perf_counter()
    spark = spark_session("local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    session = time.perf_counter() - started
    first = best_seconds(1, lambda: spark.range(1000).count())
    print(f"Spark local[2]: session start {session:.1f} s, first job {first:.1f} s")

    with tempfile.TemporaryDirectory(prefix="infertap-spark-bench-") as name:
        folder = Path(name)
        local, spread, megabytes, merge = baseline_figures(
            spark, folder, rows, args.features, repeat
        )
        one, two, run_spread, file_count = run_figures(
            spark, folder, records, args.features, repeat
        )
    spark.stop()

    report = [
        ("baseline, local (1 process)", rows / local, local),
        ("baseline, Spark local[2]", rows / spread, spread),
        ("run, local (1 process)", records / one, one),
        ("run, local (2 processes)", records / two, two),
        ("run, Spark local[2]", records / run_spread, run_spread),
    ]
    print(f"\ncapture files: {file_count}; one profile merge on the driver: {merge * 1e3:.1f} ms\n")
    for label, rate, seconds in report:
        print(f"{label:<30} {rate:>12,.0f} rows/s  {seconds:7.2f} s")
    print(f"\nSpark / local: baseline {local / spread:.2f}x, run {one / run_spread:.2f}x "
          f"(2 processes: {one / two:.2f}x)")  # fmt: skip
    estimate(rows / spread / 2, megabytes / rows, session + first, merge)


def estimate(per_core: float, mb_per_row: float, startup: float, merge: float) -> None:
    """1B rows on N executors of 4 cores, from this machine's per-core Spark rate."""
    rows = 1_000_000_000
    partitions = rows * mb_per_row * 1e6 / SPLIT_BYTES
    print(f"\npaper estimate, 1B rows ({rows * mb_per_row / 1e3:,.0f} GB of CSV, "
          f"{partitions:,.0f} partitions), Spark at {per_core:,.0f} rows/s per core:")  # fmt: skip
    for executors in (4, 16, 64):
        cores = executors * 4
        seconds = rows / (per_core * cores) + startup + partitions * merge
        print(f"  {executors:>3} executors x 4 cores: {seconds / 60:6.1f} min")


if __name__ == "__main__":
    main()
