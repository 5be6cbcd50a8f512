"""Where the sidecar's CPU goes per request at a fixed rate: perf's on-CPU split by shared object,
then py-spy's stacks (Python and C frames), top frames by self and cumulative CPU, and the CPU
per request by layer of the request path.

At a fixed rate each request pays its own wake-ups (a saturated proxy batches them), so this is
the profile that explains bench/cpu_cost.py. Both samplers read the sidecar from outside (nothing
is instrumented, so small functions are not overcharged the way cProfile overcharges them).
perf samples CPU time only; py-spy samples a thread whenever it is runnable, which on a busy
machine also counts time spent waiting for a CPU, and in --native mode (the default here, for
the C frames of aiohttp's parser, multidict and uvloop) it does not tell idle threads apart, so
samples in a blocking wait (epoll, a lock, a sleep) are dropped as idle (profile_layers.py). The
CPU per request is measured from /proc in an unprofiled stretch first and split by the shares.
The raw stacks are kept under bench/results/ (collapsed format, which speedscope and inferno read).

Run: `python bench/profile_sidecar.py [--capture 100] [--seconds 10]` as root (ptrace and perf;
`make bench` installs py-spy into the venv, perf is Debian's linux-perf).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import profile_perf
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
from profile_layers import Profile, parse_collapsed, top, top_cumulative

WARM_UP_SECONDS = 2.0
UNPROFILED_SECONDS = 4.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="load per profiled phase")
    parser.add_argument("--capture", type=float, default=100.0, help="sampling percentage")
    parser.add_argument("--features", type=int, default=70, help="floats per CSV request body")
    parser.add_argument("--sample-rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument(
        "--python-only",
        action="store_true",
        help="py-spy without C frames (non-blocking; its idle detection then works, but time in "
        "C code and syscalls lands on the calling Python frame)",
    )
    parser.add_argument("--no-perf", action="store_true", help="skip the perf phase")
    parser.add_argument("--top", type=int, default=25, help="frames listed per table")
    parser.add_argument("--quick", action="store_true", help="5 s of load per phase")
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
        *(["--nonblocking"] if args.python_only else ["--native"]),
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
    say(
        f"\nsamples: {profile.samples}, of which idle (a blocking wait) {profile.idle}; by "
        f"thread: {dict(profile.by_thread.most_common(4))}"
    )
    say(f"\nCPU per request by layer ({us_per_request:.0f} us per request in all):")
    layers = {}
    for layer, count, share in top(profile.layers, total, len(profile.layers)):
        layers[layer] = {"samples": count, "share": share, "us_per_request": share * us_per_request}
        say(f"  {share * 100:5.1f} %  {share * us_per_request:6.1f} us  {layer}")
    tables: dict[str, object] = {"layers": layers}
    say("\npieces of the path, inclusive, socket syscalls left out (they overlap):")
    pieces = {}
    for piece, _count, share in top(profile.pieces, total, len(profile.pieces)):
        pieces[piece] = share * us_per_request
        say(f"  {share * 100:5.1f} %  {share * us_per_request:6.1f} us  {piece}")
    tables["pieces_us_per_request"] = pieces
    listings = (
        ("self", top(profile.self_frames, total, n)),
        ("cumulative (the loop's root frames left out)", top_cumulative(profile, total, n)),
    )
    for title, listing in listings:
        say(f"\ntop {n} frames by {title} CPU:")
        rows = []
        for frame, count, share in listing:
            rows.append({"frame": frame, "samples": count, "share": share})
            say(f"  {share * 100:5.1f} %  {share * us_per_request:6.1f} us  {frame}")
        tables[title.split()[0]] = rows
    return tables


def perf_phase(pid: int, url: str, args: argparse.Namespace, data: Path) -> dict[str, float]:
    """perf's self CPU shares by shared-object group while the load runs."""
    perf = profile_perf.record(pid, args.seconds, data)
    try:
        load(url, args.rate, args.seconds, args.features)
        _, error = perf.communicate(timeout=args.seconds + 60)
    finally:
        if perf.poll() is None:
            perf.terminate()
            perf.wait(timeout=10)
    if not data.exists():
        raise SystemExit(f"perf record failed: {error.decode()[-2000:]}")
    profile = profile_perf.report(data)
    groups = profile.groups()
    say("\nperf, on-CPU self time by shared object:")
    for name, share in groups:
        say(f"  {share:5.1f} %  {name}")
    say("perf, top symbols:")
    for name, share in profile_perf.largest(profile.symbols, 15):
        say(f"  {share:5.1f} %  {name}")
    return dict(groups)


def run_phases(
    args: argparse.Namespace, raw: Path
) -> tuple[float, dict[str, float], dict[str, float]]:
    """The sidecar under load: unprofiled CPU µs per request, perf's split, py-spy's run."""
    perf_groups: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        upstream = f"http://127.0.0.1:{start_upstream(children, LOAD_CPU, work)}"
        sidecar = start_sidecar(
            children, "profiled", upstream, work, sampling=args.capture, cpus=PROXY_CPU
        )
        pid = sidecar.child.pid
        # The first seconds open the connections and run every path for the first time.
        load(sidecar.url, args.rate, WARM_UP_SECONDS, args.features)
        before = cpu_seconds(pid)
        plain = load(sidecar.url, args.rate, UNPROFILED_SECONDS, args.features)
        unprofiled = (cpu_seconds(pid) - before) / max(plain["requests"], 1.0) * 1e6
        say(f"CPU per request, unprofiled: {unprofiled:.0f} us (p99 {plain['p99_ms']:.3f} ms)")
        if profile_perf.perf_binary() is None and not args.no_perf:
            say("perf is not installed (Debian: linux-perf): the perf phase is skipped")
        elif not args.no_perf:
            perf_groups = perf_phase(pid, sidecar.url, args, work / "perf.data")
        profiled = record(pid, sidecar.url, args, raw)
    return unprofiled, perf_groups, profiled


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    info = machine()
    say("== where the sidecar's CPU goes at a fixed rate (perf, py-spy) ==")
    describe_machine(info)
    perf = "" if args.no_perf else f"perf for {args.seconds:g} s, "
    say(
        f"method: bench/loadgen.py at {args.rate:g} req/s, {args.features}-float CSV bodies, "
        f"sidecar at {args.capture:g} % capture on CPU {PROXY_CPU}; {WARM_UP_SECONDS:g} s warm-up, "
        f"{UNPROFILED_SECONDS:g} s unprofiled for the CPU per request, then {perf}"
        f"py-spy {args.sample_rate} Hz for {args.seconds:g} s "
        f"({'non-blocking, Python frames' if args.python_only else 'with C frames'}); samplers, "
        f"upstream and load generator on CPU {LOAD_CPU}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = f"profile_sidecar_{args.capture:g}{'_python' if args.python_only else ''}"
    raw = RESULTS_DIR / f"{name}.txt"
    unprofiled, perf_groups, profiled = run_phases(args, raw)
    say(
        f"\npy-spy: CPU per request while sampled {profiled['cpu_us_per_request']:.0f} us "
        f"(the sampler's cost to the process: against {unprofiled:.0f} us unprofiled)"
    )
    with raw.open() as lines:
        profile = parse_collapsed(lines)
    tables = show(profile, unprofiled, args.top)
    say(f"\nraw stacks (collapsed): {raw}")
    write_result(
        name,
        {
            "method": vars(args),
            "machine": info,
            "cpu_us_per_request_unprofiled": unprofiled,
            "perf_self_percent_by_object": perf_groups,
            "profiled_run": profiled,
            "raw_stacks": str(raw),
            **tables,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
