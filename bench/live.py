"""Live monitoring (`infertap-analyzer watch`): profiling throughput, memory per endpoint, CPU per
idle poll, and end-to-end latency from the first changed request to the violation on /metrics.

Method (printed with the results):
  * Throughput: capture records of 70 numbers (CSV in, one number out; and the same rows as JSON
    {"instances"} / {"predictions"}) written by the sidecar's encoder, 10 s of inferenceTime per
    file; `StepBuckets.add_file` (watch's path: split by step, then the profiler) against
    `CaptureProfiler.add_file` (run's path), best of R repetitions, process CPU time on one core.
  * Memory per endpoint: 10 endpoints of 70 features, each fed a full window at the defaults
    (15 minutes of steps at 1,000 records a minute) and evaluated once; RSS growth / 10.
  * CPU per poll: 100 endpoints whose hour folders hold files already read; process CPU of one
    pass over all of them with nothing new (listing included), median of P passes.
  * Latency: a real sidecar (--flush-interval 10) in front of bench/upstream.py, `watch
    --window 2m --step 10s --poll-interval 5s` on its folder; clean traffic at 20 requests/s
    until the window is checked, then a feature stuck at 0; seconds from the first stuck
    request until infertap_live_violations{check="baseline_drift_check"} > 0 on /metrics.

Usage: python bench/live.py [--records 50000] [--repeat 3] [--polls 5] [--skip-latency]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines.profiler import CaptureProfiler
from analyzer.live.buckets import StepBuckets
from sidecar.common.exchange import BOTH_SIDES, Exchange
from sidecar.common.record import RecordEncoder, RecordFormat

FEATURES = 70
COLUMNS = ("prediction", *(f"f{i}" for i in range(FEATURES)))
START = datetime(2026, 11, 25, 8, tzinfo=UTC)


def records(count: int, json_instances: bool, per_second: float, seed: int = 1) -> list[bytes]:
    """Capture lines by the sidecar's encoder, `per_second` of them a second from START."""
    rng = random.Random(seed)
    encoder = RecordEncoder(RecordFormat())
    lines = []
    for index in range(count):
        values = [rng.gauss(50, 15) for _ in range(FEATURES)]
        score = rng.random()
        exchange = Exchange(
            START.timestamp() + index / per_second, "/invocations", capture=BOTH_SIDES
        )
        if json_instances:
            body = ",".join(f'"f{i}":{v:.4f}' for i, v in enumerate(values))
            exchange.request_type, exchange.request_body = (
                "application/json",
                ('{"instances":[{' + body + "}]}").encode(),
            )
            exchange.response_type = "application/json"
            exchange.response_body = f'{{"predictions":[{score:.6f}]}}'.encode()
        else:
            exchange.request_type = "text/csv"
            exchange.request_body = ",".join(f"{v:.4f}" for v in values).encode()
            exchange.response_type, exchange.response_body = "text/csv", f"{score:.6f}".encode()
        lines.append(encoder.line(exchange).data)
    return lines


def files_of(lines: list[bytes], per_file: int) -> list[bytes]:
    return [b"".join(lines[i : i + per_file]) for i in range(0, len(lines), per_file)]


def throughput(count: int, repeat: int) -> dict[str, float]:
    options = DecodeOptions(columns=COLUMNS)
    found: dict[str, float] = {}
    hour = int(START.timestamp())
    for kind, as_json in (("csv", False), ("json", True)):
        files = files_of(records(count, as_json, per_second=100), per_file=1000)
        for path, make in (
            ("watch", lambda: StepBuckets(options, 60, keep_hours=False)),
            ("run", lambda: CaptureProfiler(options)),
        ):
            best = float("inf")
            for _ in range(repeat):
                target = make()
                started = time.process_time()
                for data in files:
                    if isinstance(target, StepBuckets):
                        target.add_file(hour, data, window_start=0, now=2e9)
                    else:
                        target.add_file(data)
                if isinstance(target, StepBuckets):
                    for bucket in target.steps.values():
                        bucket.profile()
                else:
                    target.finish()
                best = min(best, time.process_time() - started)
            found[f"{kind}_{path}_records_per_s"] = count / best
    return found


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def memory_per_endpoint(endpoints: int = 10) -> float:
    from analyzer.live.evaluation import merge

    options = DecodeOptions(columns=COLUMNS)
    lines = records(15_000, False, per_second=1000 / 60)
    files = files_of(lines, per_file=167)  # one file per 10 s
    hour = int(START.timestamp())
    kept = []
    before = rss_bytes()
    for _ in range(endpoints):
        buckets = StepBuckets(options, 60, keep_hours=True)
        for data in files:
            buckets.add_file(hour, data, window_start=0, now=2e9)
        merged = merge(list(buckets.steps.values()))
        merged.profile.view()
        kept.append((buckets, merged))
    return (rss_bytes() - before) / endpoints


def cpu_per_idle_poll(endpoints: int, polls: int) -> float:
    from analyzer.live.endpoint import EndpointWatch
    from analyzer.live.metrics import LiveMetrics
    from analyzer.live.settings import LiveSettings, load_live_baseline
    from analyzer.scheduling.config import EndpointConfig
    from sidecar.common.layout import file_name, partition_key

    work = Path(tempfile.mkdtemp(prefix="infertap-bench-live-"))
    baseline = _baseline(work)
    settings = LiveSettings(window=900, step=60, poll_interval=15)
    metrics = LiveMetrics()
    now = time.time()
    watches = []
    lines = records(20, False, per_second=1)
    for index in range(endpoints):
        name = f"model-{index}"
        folder = work / "captures" / partition_key(name, "AllTraffic", datetime.now(UTC))
        folder.mkdir(parents=True)
        for minute in range(10):
            opened = datetime.now(UTC) - timedelta(minutes=minute)
            (folder / file_name(opened, uuid.uuid4())).write_bytes(b"".join(lines))
        endpoint = EndpointConfig(
            name=name, variant="AllTraffic", captures=str(work / "captures"),
            baseline_statistics=str(baseline[0]), baseline_constraints=str(baseline[1]), output="",
        )  # fmt: skip
        base = load_live_baseline(endpoint, settings)
        watches.append(EndpointWatch(endpoint, settings, metrics, base, now))

    async def one_pass() -> None:
        await asyncio.gather(*(w.poll(time.time(), None) for w in watches))

    asyncio.run(one_pass())  # the first pass reads every file
    spent = []
    for _ in range(polls):
        started = time.process_time()
        asyncio.run(one_pass())
        spent.append(time.process_time() - started)
    return statistics.median(spent)


def restart_seconds(per_minute: int = 1000) -> float:
    """Wall time of a restart's first pass: a 15-minute window of a busy endpoint (70 features,
    `per_minute` records a minute, one file per 10 s) listed, read, profiled and evaluated."""
    from analyzer.live.endpoint import EndpointWatch
    from analyzer.live.metrics import LiveMetrics
    from analyzer.live.settings import LiveSettings, load_live_baseline
    from analyzer.live.timeline import step_start
    from analyzer.scheduling.config import EndpointConfig
    from sidecar.common.layout import file_name, partition_key

    work = Path(tempfile.mkdtemp(prefix="infertap-bench-live-"))
    baseline = _baseline(work)
    now = time.time()
    per_file = per_minute // 6
    lines = records(per_file * 90, False, per_second=per_minute / 60)
    for index in range(90):
        opened = datetime.fromtimestamp(now - 900 + index * 10, UTC)
        folder = work / "captures" / partition_key("busy", "AllTraffic", opened)
        folder.mkdir(parents=True, exist_ok=True)
        chunk = lines[index * per_file : (index + 1) * per_file]
        shifted = [
            line.replace(
                START.strftime("%Y-%m-%dT%H").encode(), opened.strftime("%Y-%m-%dT%H").encode()
            )
            for line in chunk
        ]
        (folder / file_name(opened, uuid.uuid4())).write_bytes(b"".join(shifted))
    endpoint = EndpointConfig(
        name="busy", variant="AllTraffic", captures=str(work / "captures"),
        baseline_statistics=str(baseline[0]), baseline_constraints=str(baseline[1]), output="",
    )  # fmt: skip
    settings = LiveSettings(window=900, step=60, poll_interval=15)
    started = time.monotonic()
    watch = EndpointWatch(
        endpoint, settings, LiveMetrics(), load_live_baseline(endpoint, settings), now
    )
    asyncio.run(watch.poll(now, None))
    watch.evaluate(step_start(now, 60))
    return time.monotonic() - started


def _baseline(work: Path) -> tuple[Path, Path]:
    from analyzer.__main__ import main as analyzer_main

    rng = random.Random(3)
    dataset = work / "train.csv"
    rows = [",".join(f"{rng.gauss(50, 15):.4f}" for _ in COLUMNS) for _ in range(2000)]
    dataset.write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n")
    assert analyzer_main(["baseline", "--dataset", str(dataset), "--header",
                          "--output", str(work / "baseline")]) == 0  # fmt: skip
    return work / "baseline" / "statistics.json", work / "baseline" / "constraints.json"


def end_to_end_latency() -> float:
    """Seconds from the first request with x0 stuck at 0 to the live violation on /metrics."""
    import urllib.request

    from harness import start_sidecar, start_upstream
    from processes import Children, free_port

    work = Path(tempfile.mkdtemp(prefix="infertap-bench-live-"))
    rng = random.Random(5)
    columns = ("prediction", "x0", "x1")
    dataset = work / "train.csv"
    rows = [f"0.5,{rng.gauss(10, 2):.4f},{rng.gauss(0, 1):.4f}" for _ in range(5000)]
    dataset.write_text(",".join(columns) + "\n" + "\n".join(rows) + "\n")
    from analyzer.__main__ import main as analyzer_main

    assert analyzer_main(["baseline", "--dataset", str(dataset), "--header",
                          "--output", str(work / "baseline")]) == 0  # fmt: skip
    with Children() as children:
        upstream = start_upstream(children, None, work)
        sidecar = start_sidecar(
            children, "live", f"http://127.0.0.1:{upstream}", work, sampling=100,
            extra=("--flush-interval", "10"),
        )  # fmt: skip
        metrics = free_port()
        children.start("watch", [
            sys.executable, "-m", "analyzer", "watch", "--captures", str(work / "live" / "capture"),
            "--endpoint-name", "bench",
            "--baseline-statistics", str(work / "baseline" / "statistics.json"),
            "--baseline-constraints", str(work / "baseline" / "constraints.json"),
            "--window", "2m", "--step", "10s", "--poll-interval", "5s", "--min-records", "100",
            "--metrics-listen", f"127.0.0.1:{metrics}"], log_path=work / "watch.log",
        ).wait_http(f"http://127.0.0.1:{metrics}/healthz")  # fmt: skip

        def value(name: str, labels: str = "") -> float:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics") as response:
                for line in response.read().decode().splitlines():
                    if line.startswith(name + "{") and labels in line:
                        return float(line.rsplit(" ", 1)[1])
            return 0.0

        def send(stuck: bool) -> None:
            x0 = 0.0 if stuck else rng.gauss(10, 2)
            request = urllib.request.Request(
                sidecar.url, data=f"{x0:.4f},{rng.gauss(0, 1):.4f}".encode(),
                headers={"Content-Type": "text/csv"},
            )  # fmt: skip
            urllib.request.urlopen(request, timeout=10).read()

        deadline = time.monotonic() + 600  # bounded: 20 requests/s for at most 10 minutes
        while value("infertap_live_window_records") < 300 and time.monotonic() < deadline:
            for _ in range(20):
                send(False)
            time.sleep(0.9)
        changed = time.monotonic()
        while value("infertap_live_violations", 'check="baseline_drift_check"') == 0:
            if time.monotonic() > deadline:
                return float("nan")
            for _ in range(20):
                send(True)
            time.sleep(0.9)
        return time.monotonic() - changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--quick", action="store_true", help="10k records, 1 repeat, no latency")
    args = parser.parse_args()
    if args.quick:
        args.records, args.repeat, args.polls, args.skip_latency = 10_000, 1, 3, True
    print(__doc__.split("Usage:")[0])
    result: dict[str, object] = dict(throughput(args.records, args.repeat))
    for key, value in result.items():
        print(f"{key}: {value:,.0f}")
    result["memory_per_endpoint_mib"] = memory_per_endpoint() / 2**20
    print(f"memory per endpoint (70 features, 15 min at 1000/min): "
          f"{result['memory_per_endpoint_mib']:.1f} MiB")  # fmt: skip
    result["idle_poll_cpu_s"] = cpu_per_idle_poll(100, args.polls)
    print(f"CPU per idle poll of 100 endpoints: {result['idle_poll_cpu_s']:.3f} s")
    result["restart_s"] = restart_seconds()
    print(f"restart, a busy endpoint's window read again (70 features, 15 min at 1000/min): "
          f"{result['restart_s']:.2f} s")  # fmt: skip
    if not args.skip_latency:
        result["latency_s"] = end_to_end_latency()
        print(f"end-to-end latency (window 2m, step 10s, poll 5s, flush 10 s): "
              f"{result['latency_s']:.1f} s")  # fmt: skip
    from harness import write_result

    write_result("live", result)


if __name__ == "__main__":
    main()
