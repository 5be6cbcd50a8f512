"""Proxy CPU and added latency per request at a fixed rate: nginx and the sidecar side by side.

At 1000 req/s by default: nginx, two minimal Python proxies and the sidecar (capture off, 100 %),
in one run, with the latency each adds over going direct.

The load is open loop (bench/loadgen.py, 70-float CSV bodies), so every proxy serves the same
requests at the same pace and only the CPU it spends differs. A proxy's CPU time (user + system,
from /proc/PID/stat, its whole process tree) is read before and after each run; the result is CPU
seconds per 1000 requests, which at 1000 req/s is the vCPUs the proxy keeps busy. The direct run
(no proxy) is the latency baseline. Runs are interleaved round by round; the report gives medians
of the runs and of the per-round ratios. Optionally (`--saturation-seconds`), each round also
drives every proxy flat out with wrk and reads its CPU, for requests per CPU-second.
Proxies on CPU 0, the upstream and the load generators on CPU 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cpu_cost_report import report
from harness import (
    LOAD_CPU,
    PROXY_CPU,
    Children,
    capture_outcomes,
    cpu_seconds,
    csv_row,
    describe_machine,
    machine,
    raise_on_sigterm,
    run_wrk,
    say,
    scrape,
    start_python_proxy,
    start_sidecar,
    start_upstream,
)
from latency import load
from nginx_proxy import start_nginx

# After the load stops, the writer's last batch (it writes every 0.1 s) is given this long to land
# before CPU is read again; the same pause for every configuration.
SETTLE_SECONDS = 0.5
CONFIG_NAMES = ("direct", "nginx", "mini_proxy", "lean_sketch", "capture_off", "capture_100")
# The Python proxies of bench/: the 40-line streams proxy and the sketch of a lean path on
# aiohttp's C parsers.
PYTHON_PROXIES = (("mini_proxy", "mini_proxy.py"), ("lean_sketch", "lean_proxy.py"))


@dataclass
class Target:
    """One configuration: where the load goes and whose CPU is counted (None: direct)."""

    name: str
    url: str
    pid: int | None = None
    admin_port: int | None = None
    fixed: list[dict[str, float]] = field(default_factory=list)
    saturated: list[dict[str, float]] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=4.0, help="per fixed-rate run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--features", type=int, default=70, help="floats per CSV request body")
    parser.add_argument(
        "--saturation-seconds",
        type=float,
        default=2.0,
        help="per wrk run (-t1 -c32) after each round's fixed-rate runs; 0 skips saturation",
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIG_NAMES),
        help=f"comma-separated subset of {', '.join(CONFIG_NAMES)}",
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also run, as `baseline_100`, a sidecar at 100 %% capture from this source tree "
        "(e.g. `git archive REF | tar -x -C DIR`): a change and its parent in the same run",
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s, saturation 1 s")
    args = parser.parse_args(argv)
    args.configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = set(args.configs) - set(CONFIG_NAMES)
    if unknown:
        parser.error(f"unknown configs {sorted(unknown)}; choose from {', '.join(CONFIG_NAMES)}")
    if args.quick:
        args.rounds, args.seconds = 2, 3.0
        args.saturation_seconds = min(args.saturation_seconds, 1.0)
    return args


def start_targets(
    children: Children, work: Path, wanted: Sequence[str], baseline_src: Path | None = None
) -> list[Target]:
    """The upstream (direct) and every wanted proxy in front of it, each answering."""
    upstream_port = start_upstream(children, LOAD_CPU, work)
    upstream = f"http://127.0.0.1:{upstream_port}"
    targets = [Target("direct", f"{upstream}/invocations")]
    # Each proxy's CPU is charged to the process Children started last (taskset execs into it).
    if "nginx" in wanted:
        port = start_nginx(children, upstream_port, work, PROXY_CPU)
        url = f"http://127.0.0.1:{port}/invocations"
        targets.append(Target("nginx", url, children.children[-1].pid))
    for name, script in PYTHON_PROXIES:
        if name in wanted:
            port = start_python_proxy(children, script, upstream_port, PROXY_CPU, work)
            url = f"http://127.0.0.1:{port}/invocations"
            targets.append(Target(name, url, children.children[-1].pid))
    for name, sampling in (("capture_off", 0.0), ("capture_100", 100.0)):
        if name in wanted:
            sidecar = start_sidecar(
                children, name, upstream, work, sampling=sampling, cpus=PROXY_CPU
            )
            targets.append(Target(name, sidecar.url, sidecar.child.pid, sidecar.admin_port))
    if baseline_src is not None:
        # -P (PYTHONSAFEPATH): the child's working directory, this tree, is not put first on
        # sys.path, so `-m sidecar` imports the baseline's copy from PYTHONPATH.
        env = {"PYTHONSAFEPATH": "1", "PYTHONPATH": str(baseline_src.resolve())}
        sidecar = start_sidecar(
            children, "baseline_100", upstream, work, sampling=100.0, cpus=PROXY_CPU, env=env
        )
        url, pid = sidecar.url, sidecar.child.pid
        targets.append(Target("baseline_100", url, pid, sidecar.admin_port))
    return targets


def measure_fixed(target: Target, args: argparse.Namespace) -> dict[str, float]:
    before = cpu_seconds(target.pid) if target.pid else 0.0
    result = load(target.url, args.rate, args.seconds, args.features)
    if target.pid:
        time.sleep(SETTLE_SECONDS)
        spent = cpu_seconds(target.pid) - before
        served = result["requests"] + result.get("warm_up_requests", 0.0)  # all cost CPU
        result["cpu_seconds_per_1000"] = round(spent / max(served, 1.0) * 1000.0, 4)
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    return result


def measure_saturated(target: Target, args: argparse.Namespace) -> dict[str, float]:
    """wrk flat out for a few seconds; req/s and requests per CPU-second of the proxy."""
    assert target.pid is not None
    before = cpu_seconds(target.pid)
    wrk = run_wrk(
        target.url,
        args.saturation_seconds,
        args.connections,
        LOAD_CPU,
        body=csv_row(args.features),
    )
    spent = max(cpu_seconds(target.pid) - before, 0.01)
    return {
        "requests_per_second": wrk.requests_per_second,
        "proxy_cpu_busy": round(spent / args.saturation_seconds, 3),
        "requests_per_cpu_second": round(wrk.requests / spent, 1),
        "p99_ms": wrk.latency_p99_ms,
        "errors": float(wrk.non_2xx + wrk.socket_errors),
    }


def run_round(targets: list[Target], args: argparse.Namespace, round_number: int) -> None:
    for target in targets:
        result = measure_fixed(target, args)
        target.fixed.append(result)
        cpu = result.get("cpu_seconds_per_1000")
        say(
            f"round {round_number} {target.name:<12} "
            f"{'-' if cpu is None else f'{cpu:.4f}':>7} CPU s / 1000 req  "
            f"p50 {result['p50_ms']:6.3f} ms  p99 {result['p99_ms']:6.3f} ms  "
            f"achieved {result['achieved_rate']:.0f} req/s  errors {result['errors']:.0f}  "
            f"load {result['load_average_1m']:.2f}"
        )
    if args.saturation_seconds <= 0:
        return
    for target in targets[1:]:
        saturated = measure_saturated(target, args)
        target.saturated.append(saturated)
        say(
            f"round {round_number} {target.name:<12} wrk "
            f"{saturated['requests_per_second']:8.0f} req/s  proxy CPU "
            f"{saturated['proxy_cpu_busy']:.2f}  {saturated['requests_per_cpu_second']:8.0f} "
            f"req per CPU-second  errors {saturated['errors']:.0f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    info = machine()
    say("== proxy CPU per 1000 requests at a fixed rate (open loop), nginx and the sidecar ==")
    describe_machine(info)
    say(
        f"method: bench/loadgen.py at {args.rate:g} req/s for {args.seconds:g} s per run, "
        f"{args.features}-float CSV bodies, {args.rounds} interleaved rounds; proxy CPU (utime + "
        f"stime of its process tree) read before and {SETTLE_SECONDS:g} s after each run; "
        f"saturation: wrk -t1 -c{args.connections} for {args.saturation_seconds:g} s per proxy "
        f"and round; proxies on CPU {PROXY_CPU}, upstream + load generators on CPU {LOAD_CPU}"
    )
    outcomes: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        targets = start_targets(children, Path(tmp), args.configs, args.baseline_src)
        for round_number in range(1, args.rounds + 1):
            run_round(targets, args, round_number)
        for target in targets:
            if target.admin_port is not None:
                outcomes[target.name] = capture_outcomes(scrape(target.admin_port))
    return report(targets, outcomes, args, info)


if __name__ == "__main__":
    sys.exit(main())
