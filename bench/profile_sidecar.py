"""Where the sidecar's CPU goes per request at a fixed rate: py-spy samples of the running sidecar
under open-loop load, top frames by self and cumulative CPU, and CPU per request by layer.

At a fixed rate each request pays its own wake-ups (a saturated proxy batches them), so this is
the profile that explains bench/cpu_cost.py. py-spy reads the sidecar's stacks from outside (no
instrumentation in the process, so the attribution is not skewed toward small functions the way
cProfile's is) and, without --idle, records only samples where a thread is running: CPU, not
wall time. `--native` adds C frames (aiohttp's parsers, multidict, uvloop, the kernel calls'
callers). The CPU per request comes from /proc (as in cpu_cost.py) and is split by the layers'
sample shares. The raw stacks are kept under bench/results/ (collapsed format, which speedscope
and inferno read) for a flame graph.

Run: `python bench/profile_sidecar.py [--capture 100] [--seconds 15] [--native]` (root or
ptrace permission needed; `make bench` installs py-spy into the venv).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    LOAD_CPU,
    PROXY_CPU,
    RESULTS_DIR,
    Children,
    cpu_seconds,
    describe_machine,
    machine,
    raise_on_sigterm,
    say,
    start_sidecar,
    start_upstream,
    write_result,
)
from latency import load
from profile_layers import Profile, parse_collapsed, top


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="profiled load")
    parser.add_argument("--capture", type=float, default=100.0, help="sampling percentage")
    parser.add_argument("--features", type=int, default=70, help="floats per CSV request body")
    parser.add_argument("--sample-rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="include C frames (slower)")
    parser.add_argument("--top", type=int, default=25, help="frames listed per table")
    parser.add_argument("--quick", action="store_true", help="5 s of load")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 5.0
    return args


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: `make bench` installs it into the venv")
    return found


def record(pid: int, url: str, args: argparse.Namespace, out: Path) -> dict[str, float]:
    """Load at the fixed rate while py-spy samples `pid`; returns the load's figures + CPU."""
    command = [
        *("taskset", "-c", LOAD_CPU, py_spy(), "record", "--pid", str(pid)),
        *("--rate", str(args.sample_rate), "--duration", f"{args.seconds:.0f}"),
        *("--format", "raw", "--nolineno", "--threads", "--output", str(out)),
        *(["--native"] if args.native else ["--nonblocking"]),
    ]
    before = cpu_seconds(pid)
    spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        result = load(url, args.rate, args.seconds, args.features)
        spent = cpu_seconds(pid) - before
        output, _ = spy.communicate(timeout=args.seconds + 60)
    finally:
        if spy.poll() is None:
            spy.terminate()
            spy.wait(timeout=10)
    if spy.returncode != 0 or not out.exists():
        raise SystemExit(f"py-spy failed (exit {spy.returncode}): {output.decode()[-2000:]}")
    result["cpu_us_per_request"] = spent / max(result["requests"], 1.0) * 1e6
    return result


def show(profile: Profile, us_per_request: float, n: int) -> dict[str, object]:
    total = max(sum(profile.layers.values()), 1)
    say(f"\nsamples: {profile.samples}; by thread: {dict(profile.by_thread.most_common(4))}")
    say(f"\nCPU per request by layer ({us_per_request:.0f} us per request in all):")
    layers = {}
    for layer, count, share in top(profile.layers, total, len(profile.layers)):
        layers[layer] = {"samples": count, "share": share, "us_per_request": share * us_per_request}
        say(f"  {share * 100:5.1f} %  {share * us_per_request:6.1f} us  {layer}")
    tables: dict[str, object] = {"layers": layers}
    for title, counter in (
        ("self", profile.self_frames),
        ("cumulative", profile.cumulative_frames),
    ):
        say(f"\ntop {n} frames by {title} CPU:")
        rows = []
        for frame, count, share in top(counter, total, n):
            rows.append({"frame": frame, "samples": count, "share": share})
            say(f"  {share * 100:5.1f} %  {share * us_per_request:6.1f} us  {frame}")
        tables[title] = rows
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    info = machine()
    say("== where the sidecar's CPU goes at a fixed rate (py-spy) ==")
    describe_machine(info)
    say(
        f"method: bench/loadgen.py at {args.rate:g} req/s, {args.features}-float CSV bodies, "
        f"sidecar at {args.capture:g} % capture on CPU {PROXY_CPU}; 3 s unprofiled for the "
        f"baseline CPU, then py-spy {args.sample_rate} Hz for {args.seconds:g} s "
        f"({'native frames' if args.native else 'non-blocking, Python frames'}), py-spy, "
        f"upstream and load generator on CPU {LOAD_CPU}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    raw = RESULTS_DIR / f"profile_sidecar_{args.capture:g}{'_native' if args.native else ''}.txt"
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        upstream = f"http://127.0.0.1:{start_upstream(children, LOAD_CPU, work)}"
        sidecar = start_sidecar(
            children, "profiled", upstream, work, sampling=args.capture, cpus=PROXY_CPU
        )
        pid = sidecar.child.pid
        before = cpu_seconds(pid)
        warm = load(sidecar.url, args.rate, 3.0, args.features)
        unprofiled = (cpu_seconds(pid) - before) / max(warm["requests"], 1.0) * 1e6
        time.sleep(0.5)
        profiled = record(pid, sidecar.url, args, raw)
    say(
        f"CPU per request: {unprofiled:.0f} us unprofiled, {profiled['cpu_us_per_request']:.0f} "
        f"us while sampled (py-spy's own cost to the process); p50 {profiled['p50_ms']:.3f} ms, "
        f"p99 {profiled['p99_ms']:.3f} ms, errors {profiled['errors']:.0f}"
    )
    with raw.open() as lines:
        profile = parse_collapsed(lines)
    tables = show(profile, unprofiled, args.top)
    say(f"\nraw stacks (collapsed): {raw}")
    write_result(
        f"profile_sidecar_{args.capture:g}{'_native' if args.native else ''}",
        {
            "method": vars(args),
            "machine": info,
            "cpu_us_per_request_unprofiled": unprofiled,
            "profiled_run": profiled,
            "raw_stacks": str(raw),
            **tables,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
