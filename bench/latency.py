"""Latency the sidecar adds at a fixed, moderate rate (default 1000 req/s), open loop.

Direct to the upstream vs through the sidecar with capture off and with 100 % capture; the proxy
is pinned to one core, the upstream and the load generator (bench/loadgen.py) to the other.
Runs are interleaved over several rounds; the report gives median p50/p99 and the added latency.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness import (
    BENCH_DIR,
    LOAD_CPU,
    PROXY_CPU,
    Children,
    describe_machine,
    machine,
    median,
    raise_on_sigterm,
    say,
    start_sidecar,
    start_upstream,
    write_result,
)


def parse_args(argv: Sequence[str] | None, description: str = "") -> argparse.Namespace:
    """The options of a fixed-rate benchmark (this one, cpu_cost.py)."""
    parser = argparse.ArgumentParser(description=description or __doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also measure each connection's first request (by default one warm-up request per "
        "connection goes unmeasured)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 2, 3.0
    return args


def load(
    url: str, rate: float, seconds: float, features: int = 30, cold: bool = False
) -> dict[str, float]:
    """One bench/loadgen.py run (on CPU LOAD_CPU) at `rate`; its JSON summary."""
    command = [
        *("taskset", "-c", LOAD_CPU),
        sys.executable,
        str(BENCH_DIR / "loadgen.py"),
        url,
        *("--rate", f"{rate:g}", "--seconds", f"{seconds:g}", "--features", str(features)),
        *(("--cold",) if cold else ()),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed (exit {done.returncode}): {done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    info = machine()
    say("== latency added by the sidecar at a fixed rate (open loop) ==")
    describe_machine(info)
    warm_up = "first requests measured" if args.cold else "one warm-up request per connection"
    say(
        f"method: bench/loadgen.py at {args.rate:g} req/s for {args.seconds:g} s per run, "
        f"{args.rounds} interleaved rounds, latency from the due time when sent late, "
        f"{warm_up}; proxy on "
        f"CPU {PROXY_CPU}, upstream + load generator on CPU {LOAD_CPU}"
    )
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "capture_off": [], "capture_100": []}
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        upstream = f"http://127.0.0.1:{start_upstream(children, LOAD_CPU, work)}"
        off = start_sidecar(children, "off", upstream, work, sampling=0, cpus=PROXY_CPU)
        full = start_sidecar(children, "full", upstream, work, sampling=100, cpus=PROXY_CPU)
        urls = {
            "direct": f"{upstream}/invocations",
            "capture_off": off.url,
            "capture_100": full.url,
        }
        for round_number in range(1, args.rounds + 1):
            for name, url in urls.items():
                result = load(url, args.rate, args.seconds, cold=args.cold)
                runs[name].append(result)
                say(
                    f"round {round_number} {name:<12} p50 {result['p50_ms']:6.3f} ms  "
                    f"p99 {result['p99_ms']:6.3f} ms  p99.9 {result['p999_ms']:6.3f} ms  "
                    f"achieved {result['achieved_rate']:.0f} req/s  errors {result['errors']:.0f}"
                )

    summary = {
        name: {
            key: median([r[key] for r in results])
            for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "achieved_rate", "errors")
        }
        for name, results in runs.items()
    }
    added = {
        name: {
            "p50_ms": summary[name]["p50_ms"] - summary["direct"]["p50_ms"],
            "p99_ms": summary[name]["p99_ms"] - summary["direct"]["p99_ms"],
        }
        for name in ("capture_off", "capture_100")
    }
    say("")
    say(f"{'config':<14} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9}  (medians)")
    for name, values in summary.items():
        say(
            f"{name:<14} {values['p50_ms']:8.3f} {values['p90_ms']:8.3f} "
            f"{values['p99_ms']:8.3f} {values['p999_ms']:9.3f}"
        )
    for name, values in added.items():
        say(
            f"added by sidecar ({name}): p50 {values['p50_ms']:+.3f} ms, "
            f"p99 {values['p99_ms']:+.3f} ms"
        )
    write_result(
        "latency",
        {
            "method": {
                "tool": "bench/loadgen.py (asyncio + uvloop, open loop, 64 keep-alive connections)",
                "warm_up": not args.cold,
                "rate": args.rate,
                "seconds_per_run": args.seconds,
                "rounds": args.rounds,
                "pinning": f"proxy on CPU {PROXY_CPU}; upstream + load generator on CPU {LOAD_CPU}",
            },
            "machine": info,
            "runs": runs,
            "median": summary,
            "added_over_direct": added,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
