"""Kernel against user-space CPU per request for every proxy at a fixed rate, from Linux perf.

nginx, bench/mini_proxy.py, bench/lean_proxy.py and the sidecar (100 % capture) in turn, each at
1000 req/s (bench/loadgen.py, 70-float CSV bodies) under `perf record -e cpu-clock` of its whole
process tree: CPU per request from /proc, split by shared object (profile_perf.py). Every proxy
makes the same socket calls, so the kernel part is a floor they share; the rest is what each
spends in user space. Run as root: `python bench/perf_split.py [--seconds 6]`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import profile_perf
from harness import (
    LOAD_CPU,
    PROXY_CPU,
    Children,
    cpu_seconds,
    describe_machine,
    machine,
    process_tree,
    raise_on_sigterm,
    say,
    start_python_proxy,
    start_sidecar,
    start_upstream,
    write_result,
)
from latency import load
from nginx_proxy import start_nginx


def start_all(children: Children, work: Path) -> dict[str, tuple[str, int]]:
    """{name: (url, pid)} for every proxy in front of one upstream."""
    upstream_port = start_upstream(children, LOAD_CPU, work)
    proxies: dict[str, tuple[str, int]] = {}
    port = start_nginx(children, upstream_port, work, PROXY_CPU)
    proxies["nginx"] = (f"http://127.0.0.1:{port}/invocations", children.children[-1].pid)
    for name, script in (("mini_proxy", "mini_proxy.py"), ("lean_sketch", "lean_proxy.py")):
        port = start_python_proxy(children, script, upstream_port, PROXY_CPU, work)
        proxies[name] = (f"http://127.0.0.1:{port}/invocations", children.children[-1].pid)
    sidecar = start_sidecar(
        children, "capture_100", f"http://127.0.0.1:{upstream_port}", work, sampling=100,
        cpus=PROXY_CPU,
    )  # fmt: skip
    proxies["capture_100"] = (sidecar.url, sidecar.child.pid)
    return proxies


def measure(url: str, pid: int, args: argparse.Namespace, data: Path) -> dict[str, float]:
    """CPU µs per request and perf's split of it, by group of shared objects."""
    load(url, args.rate, 2.0, args.features)  # warm-up: connections opened, paths run once
    pids = ",".join(str(p) for p in process_tree(pid))  # nginx's worker is the master's child
    binary = profile_perf.perf_binary()
    assert binary is not None
    before = cpu_seconds(pid)
    perf = subprocess.Popen(
        [
            *("taskset", "-c", LOAD_CPU, binary, "record", "-e", "cpu-clock", "-F", "999"),
            *("-p", pids, "-o", str(data), "--", "sleep", f"{args.seconds:g}"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    result = load(url, args.rate, args.seconds, args.features)
    perf.wait(timeout=args.seconds + 60)
    us = (cpu_seconds(pid) - before) / max(result["requests"], 1.0) * 1e6
    split = {"total": us}
    for group, share in profile_perf.report(data).groups():
        split[group] = share * us / 100.0
    return split


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="per proxy")
    parser.add_argument("--features", type=int, default=70, help="floats per CSV request body")
    parser.add_argument("--quick", action="store_true", help="3 s per proxy")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 3.0
    if profile_perf.perf_binary() is None:
        raise SystemExit("perf is not installed (Debian: linux-perf)")
    raise_on_sigterm()
    info = machine()
    say("== kernel and user-space CPU per request, every proxy (perf) ==")
    describe_machine(info)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        for name, (url, pid) in start_all(children, work).items():
            split = results[name] = measure(url, pid, args, work / f"{name}.data")
            parts = ", ".join(
                f"{group.split(' (')[0]} {us:.0f}"
                for group, us in split.items()
                if group != "total" and us >= 1.0
            )
            say(f"{name:<12} {split['total']:6.0f} us per request: {parts}")
    write_result("perf_split", {"method": vars(args), "machine": info, "us_per_request": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
