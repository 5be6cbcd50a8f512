"""Analyzer throughput: SageMaker capture lines -> merged per-feature profiles, records per second.

Method (printed with the results):
  * Data: N capture records as the sidecar writes them (sidecar.common.record.build_record): a CSV
    request of 70 numbers (every third an integer, the rest decimals) and a one-number CSV
    response, i.e. 71 features per row; and the same rows as JSON ({"instances": [{...}]} in,
    {"predictions": [p]} out). Files of ~8 MiB in the sidecar's hour-folder layout on local disk.
  * One core: analyzer.engines.profiler.CaptureProfiler over file bytes in memory (parse, decode,
    profile, finish), best of R repetitions. Floor: orjson parsing each line and pulling out the
    payload strings, nothing else (what any Python reader pays at least).
  * Two processes: the files split between two warm worker processes
    (analyzer.engines.local.profile_capture_files, reading from disk), profiles merged.
  * whylogs (if installed: `pip install -e '.[bench]'`): the same lines parsed with orjson into a
    float pandas DataFrame, then `why.log(df)`; reported for the whole path and for log alone.

Usage: python bench/analyzer_throughput.py [--records 200000] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines.local import profile_capture_files
from analyzer.engines.profiler import CaptureProfiler
from analyzer.profiling.dataset import DatasetProfile
from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record

FEATURES = 70
COLUMNS = ("prediction", *(f"f{i}" for i in range(FEATURES)))
HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)
FILE_BYTES = 8 * 1024 * 1024


def csv_lines(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        values = [
            str(rng.randint(0, 500)) if j % 3 == 0 else f"{rng.gauss(50, 15):.4f}"
            for j in range(FEATURES)
        ]
        request = Payload("text/csv", ",".join(values).encode())
        response = Payload("text/csv; charset=utf-8", f"{rng.random():.6f}".encode())
        lines.append(build_record(inference_time=HOUR, request=request, response=response))
    return lines


def json_lines(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        instance = {
            f"f{j}": rng.randint(0, 500) if j % 3 == 0 else round(rng.gauss(50, 15), 4)
            for j in range(FEATURES)
        }
        request = Payload("application/json", orjson.dumps({"instances": [instance]}))
        response = Payload("application/json", orjson.dumps({"predictions": [rng.random()]}))
        lines.append(build_record(inference_time=HOUR, request=request, response=response))
    return lines


def blobs(lines: list[bytes]) -> list[bytes]:
    """The lines grouped into sidecar-sized files."""
    files, current, size = [], [], 0
    for line in lines:
        current.append(line)
        size += len(line)
        if size >= FILE_BYTES:
            files.append(b"".join(current))
            current, size = [], 0
    if current:
        files.append(b"".join(current))
    return files


def best_rate(count: int, repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def profile_blobs(files: list[bytes]) -> DatasetProfile:
    profiler = CaptureProfiler(DecodeOptions(columns=COLUMNS))
    for data in files:
        profiler.add_file(data)
    return profiler.finish()


def orjson_floor(files: list[bytes]) -> int:
    kept = 0
    for data in files:
        for line in data.split(b"\n"):
            if line:
                capture = orjson.loads(line)["captureData"]
                kept += len(capture["endpointInput"]["data"]) + len(
                    capture["endpointOutput"]["data"]
                )
    return kept


def two_processes(paths: list[str], pool: ProcessPoolExecutor) -> DatasetProfile:
    options = DecodeOptions(columns=COLUMNS, output_columns=1)
    shares = [paths[0::2], paths[1::2]]
    parts = [pool.submit(profile_capture_files, share, options, 4) for share in shares]
    merged = DatasetProfile.from_bytes(parts[0].result().profile)
    for part in parts[1:]:
        merged.absorb(DatasetProfile.from_bytes(part.result().profile))
    return merged


def write_files(folder: Path, files: list[bytes]) -> list[str]:
    hour_folder = folder / partition_key("bench", "AllTraffic", HOUR)
    hour_folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for data in files:
        path = hour_folder / file_name(HOUR)
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def whylogs_rates(files: list[bytes], count: int, repeat: int) -> tuple[float, float] | None:
    try:
        import pandas as pd
        import whylogs as why
    except ImportError:
        return None

    def frame() -> pd.DataFrame:
        rows = []
        for data in files:
            for line in data.split(b"\n"):
                if line:
                    capture = orjson.loads(line)["captureData"]
                    text = (
                        capture["endpointOutput"]["data"] + "," + capture["endpointInput"]["data"]
                    )
                    rows.append(orjson.loads("[" + text + "]"))
        return pd.DataFrame(rows, columns=list(COLUMNS), dtype="float64")

    df = frame()
    log_only = best_rate(count, repeat, lambda: why.log(df))
    whole = best_rate(count, repeat, lambda: why.log(frame()))
    return whole, log_only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 records, 1 repetition")
    args = parser.parse_args()
    count, repeat = (20_000, 1) if args.quick else (args.records, args.repeat)
    print(__doc__.split("Usage:")[0].strip())
    print(f"\nrecords: {count}, repetitions: {repeat} (best taken), cpus: {os.cpu_count()}\n")

    csv_files = blobs(csv_lines(count))
    json_files = blobs(json_lines(count))
    megabytes = sum(len(f) for f in csv_files) / 1e6
    results: list[tuple[str, float]] = []
    results.append(
        (
            "orjson floor: parse lines only, CSV (1 core)",
            best_rate(count, repeat, lambda: orjson_floor(csv_files)),
        )
    )
    csv_rate = best_rate(count, repeat, lambda: profile_blobs(csv_files))
    results.append(("infertap CSV 70 floats -> merged profile (1 core)", csv_rate))
    json_rate = best_rate(count, repeat, lambda: profile_blobs(json_files))
    results.append(("infertap JSON instances -> merged profile (1 core)", json_rate))

    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as folder:
        paths = write_files(Path(folder), csv_files)
        with ProcessPoolExecutor(max_workers=2) as pool:
            two_processes(paths[:2], pool)  # warm both workers (imports, first sketches)
            rate2 = best_rate(count, repeat, lambda: two_processes(paths, pool))
        results.append(("infertap CSV, 2 processes reading files, merged", rate2))

    measured = whylogs_rates(csv_files, count, repeat)
    if measured is None:
        print("whylogs is not installed (pip install -e '.[bench]'): only the orjson floor")
    else:
        results.append(("whylogs: orjson -> pandas -> why.log (1 core)", measured[0]))
        results.append(("whylogs: why.log(DataFrame) alone (1 core)", measured[1]))

    print(f"CSV data: {megabytes:.1f} MB in {len(csv_files)} files\n")
    width = max(len(name) for name, _ in results)
    for name, rate in results:
        print(f"{name:<{width}}  {rate:>11,.0f} records/s")
    print(f"\nscaling with 2 processes: {rate2 / csv_rate:.2f}x one core")
    for name, rate in (("CSV", csv_rate), ("JSON", json_rate)):
        verdict = "meets" if rate >= 80_000 else "misses"
        print(f"{name} on one core {verdict} the 80,000 records/s target")
    print(f"JSON / CSV on one core: {json_rate / csv_rate:.2f}")


if __name__ == "__main__":
    main()
