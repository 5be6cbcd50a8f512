"""Sidecar throughput side by side with wrk: direct to the upstream, sidecar capture off, sidecar
100 % capture (proxy pinned to one core), and --workers 2 vs --workers 1 unpinned.

Runs are interleaved (round 1: a b c d1 d2, round 2: a b c d1 d2, ...) so that noise from other
load on the machine spreads over all configurations; the report gives the median req/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    LOAD_CPU,
    PROXY_CPU,
    Children,
    WrkResult,
    capture_outcomes,
    describe_machine,
    machine,
    median,
    raise_on_sigterm,
    run_wrk,
    say,
    scrape,
    start_sidecar,
    start_upstream,
    write_result,
)


@dataclass
class Config:
    key: str
    title: str
    url: str
    wrk_cpus: str | None
    admin_port: int | None = None
    runs: list[WrkResult] = field(default_factory=list)

    @property
    def median_rps(self) -> float:
        return median([r.requests_per_second for r in self.runs])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s")
    parser.add_argument(
        "--configs",
        default="a,b,c,d1,d2",
        help="comma-separated configs to run, e.g. b,c for the capture cost alone",
    )
    args = parser.parse_args(argv)
    args.configs = [key.strip() for key in args.configs.split(",") if key.strip()]
    if args.quick:
        args.rounds, args.seconds = 2, 2.0
    return args


def start_configs(children: Children, work: Path, wanted: Sequence[str]) -> list[Config]:
    upstream_port = start_upstream(children, LOAD_CPU, work)
    upstream = f"http://127.0.0.1:{upstream_port}"

    configs = [Config("a", "direct to upstream", f"{upstream}/invocations", LOAD_CPU)]
    configs = [config for config in configs if config.key in wanted]
    # (key, title, sampling %, workers, sidecar CPUs, wrk CPUs)
    sidecars: list[tuple[str, str, float, int, str | None, str | None]] = [
        ("b", "sidecar, capture off (0 %), pinned", 0, 1, PROXY_CPU, LOAD_CPU),
        ("c", "sidecar, 100 % capture, pinned", 100, 1, PROXY_CPU, LOAD_CPU),
        ("d1", "sidecar, 100 %, --workers 1, unpinned", 100, 1, None, None),
        ("d2", "sidecar, 100 %, --workers 2, unpinned", 100, 2, None, None),
    ]
    for key, title, sampling, workers, cpus, wrk_cpus in sidecars:
        if key not in wanted:
            continue
        process = start_sidecar(
            children, key, upstream, work, sampling=sampling, workers=workers, cpus=cpus
        )
        configs.append(Config(key, title, process.url, wrk_cpus, process.admin_port))
    return configs


def report(configs: list[Config], args: argparse.Namespace, info: dict[str, object]) -> int:
    by_key = {c.key: c for c in configs}
    say("")
    say(f"{'config':<42} {'median req/s':>12} {'runs req/s':<40} {'p99 ms (median)':>15}")
    for config in configs:
        runs = ", ".join(f"{r.requests_per_second:.0f}" for r in config.runs)
        p99 = median([r.latency_p99_ms for r in config.runs])
        name = f"{config.key}) {config.title}"
        say(f"{name:<42} {config.median_rps:>12.0f} {runs:<40} {p99:>15.2f}")

    pairs = {
        "c/b capture cost (100 % vs off)": ("c", "b"),
        "c/a sidecar with capture vs direct": ("c", "a"),
        "b/a sidecar without capture vs direct": ("b", "a"),
        "d2/d1 --workers 2 vs 1 (unpinned)": ("d2", "d1"),
    }
    ratios = {
        name: by_key[top].median_rps / by_key[bottom].median_rps
        for name, (top, bottom) in pairs.items()
        if top in by_key and bottom in by_key
    }
    say("")
    for name, value in ratios.items():
        say(f"{name:<42} {value:>6.2f}")
    outcomes: dict[str, dict[str, float]] = {}
    errors = 0
    for config in configs:
        errors += sum(r.non_2xx + r.socket_errors for r in config.runs)
        if config.admin_port is not None:
            outcomes[config.key] = capture_outcomes(scrape(config.admin_port))
    say("")
    for key, counts in outcomes.items():
        shown = ", ".join(f"{k}={v:.0f}" for k, v in sorted(counts.items()) if v)
        say(f"capture outcomes {key}: {shown or 'none'}")
    if errors:
        say(f"warning: {errors} non-2xx responses or socket errors across all runs")
    write_result(
        "throughput",
        {
            "method": {
                "tool": "wrk, POST text/csv, one 30-feature row (~300 B) a request",
                "rounds": args.rounds,
                "seconds_per_run": args.seconds,
                "connections": args.connections,
                "wrk_threads": 1,
                "pinning": f"a/b/c: proxy on CPU {PROXY_CPU}, upstream + wrk on CPU {LOAD_CPU}; "
                "d1/d2: sidecar unpinned, upstream on CPU 1, wrk unpinned",
                "order": "interleaved rounds",
            },
            "machine": info,
            "configs": {
                c.key: {"title": c.title, "median_rps": c.median_rps, "runs": c.runs}
                for c in configs
            },
            "ratios": ratios,
            "capture_outcomes": outcomes,
            "errors": errors,
        },
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    info = machine()
    say("== sidecar throughput (wrk) ==")
    describe_machine(info)
    say(
        f"method: {args.rounds} interleaved rounds x {args.seconds:g} s per config, wrk -t1 "
        f"-c{args.connections}; proxy pinned to CPU {PROXY_CPU}, upstream + wrk to CPU {LOAD_CPU} "
        "(d1/d2 unpinned, the sidecar may use both CPUs)"
    )
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        configs = start_configs(children, Path(tmp), args.configs)
        for round_number in range(1, args.rounds + 1):
            for config in configs:
                result = run_wrk(config.url, args.seconds, args.connections, config.wrk_cpus)
                config.runs.append(result)
                say(
                    f"round {round_number} {config.key:>2}: {result.requests_per_second:8.0f} req/s"
                    f"  p50 {result.latency_p50_ms:.2f} ms  p99 {result.latency_p99_ms:.2f} ms"
                )
        return report(configs, args, info)


if __name__ == "__main__":
    sys.exit(main())
