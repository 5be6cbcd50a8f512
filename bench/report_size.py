"""report.html size and time for N features: writing the page, and opening it in Chromium.

Method (printed with the results):
  * Data: a baseline of 2,000 rows and one monitored hour of 400 rows through the real
    `baseline` and `run` code (examples/report_runs.py), N columns: a prediction, N - 2 numeric
    inputs and one categorical; 3 numeric inputs shifted by 1.5 sd and one 30 % missing, so the
    page has findings, a drift overview and N feature charts (at most run_page.CHART_BUDGET).
  * Writing: `render_run_report` on the run's folder in this process, after one warm-up page
    (matplotlib's import and font cache are paid once per process), median of R repetitions:
    wall-clock seconds and this process's CPU seconds (the latter barely depends on what else
    runs on the machine).
  * Opening: headless Chromium (network cut, the tests' DevTools client), navigation start to the
    load event with every chart laid out; median of R loads; console errors and network requests
    must be none.

Usage: python bench/report_size.py [--features 70 500] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "examples")]

import report_runs  # noqa: E402  (a script folder, put on the path above)

from analyzer.reporting.html.run_page import CHART_BUDGET, render_run_report  # noqa: E402
from analyzer.reporting.html.sources import read_run  # noqa: E402
from tests.analyzer.reporting import chromium  # noqa: E402

MIB = 1024 * 1024


def measure(features: int, repeat: int, browser: chromium.Chromium, work: Path) -> dict[str, float]:
    started = time.monotonic()
    traffic = report_runs.Traffic(shifted=("f002", "f005", "f009"), missing=("f003",))
    folder = report_runs.one_run(work / f"n{features}", features, traffic)
    made = time.monotonic() - started
    render_run_report(read_run(str(folder)))  # warm-up
    writes, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        html = render_run_report(read_run(str(folder)))
        writes.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    page = folder / "bench.html"
    page.write_text(html, encoding="utf-8")
    loads = []
    for _ in range(repeat):
        loaded = browser.load(page, evaluate="document.querySelectorAll('svg').length")
        if loaded.errors or loaded.remote_requests:
            raise SystemExit(f"page misbehaved: {loaded.errors} {loaded.remote_requests}")
        loads.append(loaded.load_seconds)
    return {
        "features": features,
        "charts": float(loaded.value),
        "bytes": float(page.stat().st_size),
        "write_seconds": statistics.median(writes),
        "write_cpu_seconds": statistics.median(cpu),
        "open_seconds": statistics.median(loads),
        "run_seconds": made,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, nargs="+", default=[70, 500])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="70 features, one repetition")
    args = parser.parse_args(argv)
    if args.quick:
        args.features, args.repeat = [70], 1
    print(__doc__.split("Usage:")[0].strip())
    print(
        f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"chart budget {CHART_BUDGET}; {args.repeat} repetitions\n"
    )
    browser = chromium.start()
    if browser is None:
        print("chromium is not installed: make system-deps")
        return 2
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="report-size-") as work:
            for count in args.features:
                rows.append(measure(count, args.repeat, browser, Path(work)))
    finally:
        browser.close()
    header = ("features", "charts", "page MiB", "write s", "write CPU s", "open s", "run s")
    print("  ".join(f"{h:>11}" for h in header))
    for row in rows:
        cells = (
            f"{row['features']:.0f}",
            f"{row['charts']:.0f}",
            f"{row['bytes'] / MIB:.2f}",
            f"{row['write_seconds']:.2f}",
            f"{row['write_cpu_seconds']:.2f}",
            f"{row['open_seconds']:.2f}",
            f"{row['run_seconds']:.1f}",
        )
        print("  ".join(f"{c:>11}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
