"""Sidecar CPU per request at a fixed rate (default 1000 req/s): capture off, 10 %, 100 %.

The load is open loop (bench/loadgen.py), so every configuration serves the same requests at the
same pace and only the CPU it spends differs. The sidecar's CPU time (user + system, from
/proc/PID/stat, its whole process tree) is read before and after each run; the result is CPU
seconds per 1000 requests, which at 1000 req/s is the vCPUs the sidecar keeps busy. Runs are
interleaved over several rounds; the report gives medians. Sidecars on CPU 0, the upstream and the
load generator on CPU 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    LOAD_CPU,
    PROXY_CPU,
    Children,
    capture_outcomes,
    describe_machine,
    machine,
    median,
    process_tree,
    raise_on_sigterm,
    say,
    scrape,
    start_sidecar,
    start_upstream,
    write_result,
)
from latency import load, parse_args

# (name, sampling percentage)
CONFIGS = (("capture_off", 0.0), ("capture_10", 10.0), ("capture_100", 100.0))
# After the load stops, the writer's last batch (it writes every 0.1 s) is given this long to land
# before CPU is read again; the same pause for every configuration.
SETTLE_SECONDS = 0.5
# The budget DESIGN sets for capture: sidecar vCPU per 1000 req/s with 100 % capture.
TARGET_VCPU = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its descendants, in seconds."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state is field 3, utime field 14 and stime field 15 (1-based).
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def measure(pid: int, url: str, rate: float, seconds: float) -> dict[str, float]:
    before = cpu_seconds(pid)
    result = load(url, rate, seconds)
    time.sleep(SETTLE_SECONDS)
    spent = cpu_seconds(pid) - before
    requests = max(result["requests"], 1.0)
    return {
        "cpu_seconds": round(spent, 3),
        "requests": requests,
        "cpu_seconds_per_1000": round(spent / requests * 1000.0, 4),
        "achieved_rate": result["achieved_rate"],
        "errors": result["errors"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, __doc__.splitlines()[0])
    raise_on_sigterm()
    info = machine()
    say("== sidecar CPU per 1000 requests at a fixed rate (open loop) ==")
    describe_machine(info)
    say(
        f"method: bench/loadgen.py at {args.rate:g} req/s for {args.seconds:g} s per run, "
        f"{args.rounds} interleaved rounds; sidecar CPU (utime + stime of its process tree) read "
        f"before and {SETTLE_SECONDS:g} s after each run; sidecars on CPU {PROXY_CPU}, upstream + "
        f"load generator on CPU {LOAD_CPU}"
    )
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in CONFIGS}
    outcomes: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        upstream = f"http://127.0.0.1:{start_upstream(children, LOAD_CPU, work)}"
        sidecars = {
            name: start_sidecar(children, name, upstream, work, sampling=pct, cpus=PROXY_CPU)
            for name, pct in CONFIGS
        }
        for round_number in range(1, args.rounds + 1):
            for name, sidecar in sidecars.items():
                result = measure(sidecar.child.process.pid, sidecar.url, args.rate, args.seconds)
                runs[name].append(result)
                say(
                    f"round {round_number} {name:<12} {result['cpu_seconds_per_1000']:.4f} CPU s "
                    f"per 1000 requests  achieved {result['achieved_rate']:.0f} req/s  "
                    f"errors {result['errors']:.0f}"
                )
        for name, sidecar in sidecars.items():
            outcomes[name] = capture_outcomes(scrape(sidecar.admin_port))
    return report(runs, outcomes, args, info)


def report(
    runs: dict[str, list[dict[str, float]]],
    outcomes: dict[str, dict[str, float]],
    args: argparse.Namespace,
    info: dict[str, object],
) -> int:
    per_1000 = {name: median([r["cpu_seconds_per_1000"] for r in rs]) for name, rs in runs.items()}
    capture_cost = {
        name: per_1000[name] - per_1000["capture_off"] for name in ("capture_10", "capture_100")
    }
    say("")
    say(f"{'config':<14} {'CPU s / 1000 req (median)':>26}  (= vCPU at {args.rate:g} req/s)")
    for name, value in per_1000.items():
        say(f"{name:<14} {value:>26.4f}")
    for name, value in capture_cost.items():
        say(f"capture cost ({name} - capture_off): {value:+.4f} CPU s per 1000 requests")
    within = capture_cost["capture_100"] <= TARGET_VCPU
    say(
        f"100 % capture costs {capture_cost['capture_100']:.4f} vCPU per 1000 req/s: "
        f"{'within' if within else 'ABOVE'} the {TARGET_VCPU} target"
    )
    for name, counts in outcomes.items():
        shown = ", ".join(f"{k}={v:.0f}" for k, v in sorted(counts.items()) if v)
        say(f"capture outcomes {name}: {shown or 'none'}")
    write_result(
        "cpu_cost",
        {
            "method": {
                "tool": "bench/loadgen.py (open loop, 64 keep-alive connections), /proc/PID/stat",
                "rate": args.rate,
                "seconds_per_run": args.seconds,
                "rounds": args.rounds,
                "settle_seconds": SETTLE_SECONDS,
                "pinning": f"sidecars on CPU {PROXY_CPU}; upstream + load generator on CPU "
                f"{LOAD_CPU}",
            },
            "machine": info,
            "runs": runs,
            "median_cpu_seconds_per_1000": per_1000,
            "capture_cost_per_1000": capture_cost,
            "target_vcpu_per_1000_rps": TARGET_VCPU,
            "within_target": within,
            "capture_outcomes": outcomes,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
