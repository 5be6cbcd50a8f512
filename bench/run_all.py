"""`make bench`: every benchmark in turn, each bounded in time, results under bench/results/.

`--quick` passes `--quick` to each (a smoke run of under two minutes in all); the full run stays
under ten minutes on two cores (a total budget caps it). Each benchmark prints its own method and
numbers; a summary of the headline numbers closes the run.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# (script, time limit in seconds for the full run): the sum stays under ten minutes.
BENCHMARKS = (
    ("throughput.py", 180),
    ("latency.py", 130),
    ("cpu_cost.py", 130),
    ("s3_stall.py", 110),
    ("analyzer_throughput.py", 250),
    ("stream_ttft.py", 120),
    ("stream_memory.py", 60),
    ("live.py", 150),
)
# The whole run stops within this budget, whatever each benchmark does.
TOTAL_BUDGET = 570.0


def run_bounded(command: list[str], limit: float) -> int | None:
    """Run `command`; past `limit` seconds interrupt it (SIGINT, so it stops the processes it
    started) and return None."""
    process = subprocess.Popen(command)
    try:
        return process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return None
    except BaseException:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        raise


def load_result(name: str, since: float) -> dict[str, Any] | None:
    """bench/results/NAME.json when this run wrote it (modified after `since`, a wall time)."""
    path = BENCH_DIR / "results" / f"{name}.json"
    if not path.exists() or path.stat().st_mtime < since:
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def summary(since: float) -> list[str]:
    """The headline numbers of this run's sidecar results, side by side."""
    lines = []
    throughput = load_result("throughput", since)
    if throughput:
        medians = ", ".join(
            f"{key} {config['median_rps']:.0f}" for key, config in throughput["configs"].items()
        )
        lines.append(f"throughput median req/s: {medians}")
        ratios = ", ".join(f"{name} = {value:.2f}" for name, value in throughput["ratios"].items())
        lines.append(f"throughput ratios: {ratios}")
    latency = load_result("latency", since)
    if latency:
        for name, added in latency["added_over_direct"].items():
            lines.append(
                f"latency added at {latency['method']['rate']:.0f} req/s ({name}): "
                f"p50 {added['p50_ms']:+.3f} ms, p99 {added['p99_ms']:+.3f} ms"
            )
    cost = load_result("cpu_cost", since)
    if cost:
        per_1000 = ", ".join(
            f"{name} {value:.3f}" for name, value in cost["median_cpu_seconds_per_1000"].items()
        )
        lines.append(
            f"sidecar CPU s per 1000 requests at {cost['method']['rate']:.0f} req/s: {per_1000}; "
            f"100 % capture adds {cost['capture_cost_per_1000']['capture_100']:.4f} vCPU per "
            f"1000 req/s ({'within' if cost['within_target'] else 'ABOVE'} the "
            f"{cost['target_vcpu_per_1000_rps']} target)"
        )
    streams = load_result("stream_ttft", since)
    if streams:
        for name, added in streams["added_over_direct"].items():
            lines.append(
                f"time to first token added at {streams['method']['concurrency']} concurrent "
                f"streams ({name}): p50 {added['p50_ms']:+.3f} ms, p99 {added['p99_ms']:+.3f} ms; "
                f"{streams['rss_bytes_per_stream'][name] / 1024:.1f} KiB per stream, "
                f"{streams['cpu_ms_per_1000_tokens'][name]:.1f} ms CPU per 1000 tokens"
            )
    stall = load_result("s3_stall", since)
    if stall:
        lines.append(
            f"S3 stalled {stall['method']['seconds']:.0f}s: peak RSS "
            f"{stall['peak_rss_bytes'] / 2**20:.1f} MiB vs ceiling "
            f"{stall['ceiling_bytes'] / 2**20:.1f} MiB "
            f"({'within' if stall['within_ceiling'] else 'ABOVE'})"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke runs")
    parser.add_argument("--only", nargs="*", help="run only these scripts, e.g. latency.py")
    args = parser.parse_args(argv)
    failed: list[str] = []
    started = time.monotonic()
    started_wall = time.time()
    for script, own_limit in BENCHMARKS:
        path = BENCH_DIR / script
        if args.only and script not in args.only:
            continue
        if not path.exists():
            print(f"-- {script}: not present, skipped", flush=True)
            continue
        command = [sys.executable, str(path), *(["--quick"] if args.quick else [])]
        limit = min(own_limit, TOTAL_BUDGET - (time.monotonic() - started))
        if limit < 10:
            print(f"-- {script}: skipped, the {TOTAL_BUDGET:.0f}s budget is spent", flush=True)
            failed.append(f"{script} (no time left)")
            continue
        print(f"\n-- {' '.join(command[1:])} (limit {limit:.0f}s)", flush=True)
        code = run_bounded(command, limit)
        if code is None:
            print(f"-- {script}: stopped after its {limit:.0f}s limit", flush=True)
        if code != 0:
            failed.append(f"{script} (exit {code if code is not None else 'timeout'})")
    print(f"\n-- all benchmarks done in {time.monotonic() - started:.0f}s", flush=True)
    for line in summary(started_wall):
        print(f"-- {line}", flush=True)
    print(f"-- results: {BENCH_DIR / 'results'}/*.json", flush=True)
    if failed:
        print(f"-- failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
