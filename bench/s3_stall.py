"""Sidecar memory while S3 is unusable: it accepts TCP connections and never answers (`--s3 hang`,
the default) or refuses them (`--s3 refused`), optionally with a full spool of sealed files
already waiting (`--prefill-mb 58`).

Under full wrk load with 100 % capture for a bounded time (default 60 s; `--seconds 600` for the
ten-minute version), RSS of the sidecar is sampled every second. Capture must stay bounded: the
in-memory queue by --queue-max-bytes, the spool by --spool-max-bytes on disk, the rest dropped
and counted; each failed upload attempt must leave nothing behind. Reports peak RSS against the
ceiling `idle RSS + queue_max_bytes + 32 MiB` (README, Reliability), the drop counters, upload
outcomes, and how SIGTERM behaves with uploads stuck (files stay in the spool for the next start).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import (
    LOAD_CPU,
    PROXY_CPU,
    Children,
    capture_outcomes,
    describe_machine,
    free_port,
    lua_script,
    machine,
    raise_on_sigterm,
    rss_bytes,
    say,
    scrape,
    start_sidecar,
    start_upstream,
    write_result,
)

from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record
from sidecar.settings import parse_size

MIB = 2**20
MARGIN = 32 * MIB  # README's ceiling: idle RSS + --queue-max-bytes + 32 MiB
UPLOAD_OUTCOMES = ("success", "refused", "connection", "timeout", "http_error", "error")


class StallingServer:
    """Accepts TCP connections on 127.0.0.1, reads whatever arrives, never answers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self.bytes_received = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Swallow(self), "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class _Swallow(asyncio.Protocol):
    def __init__(self, owner: StallingServer) -> None:
        self.owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.owner.connections += 1

    def data_received(self, data: bytes) -> None:
        self.owner.bytes_received += len(data)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time under load")
    parser.add_argument("--s3", choices=["hang", "refused"], default="hang", help="how S3 fails")
    parser.add_argument(
        "--prefill-mb", type=float, default=0.0, help="sealed files waiting in the spool at start"
    )
    parser.add_argument("--prefill-file-mb", type=float, default=8.0, help="size of each")
    parser.add_argument("--upload-max-backoff", default="2", help="sidecar retry cap, seconds")
    parser.add_argument("--upload-timeout", default="10", help="seconds one upload may take")
    parser.add_argument("--queue-max-bytes", default="16MiB")
    parser.add_argument("--spool-max-bytes", default="32MiB")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--quick", action="store_true", help="15 s under load")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 15.0
    return args


def prefill(spool: Path, total_bytes: int, file_bytes: int) -> tuple[int, int]:
    """Sealed capture files in `spool` as a previous run would leave them: (files, records)."""
    hour = datetime(2026, 1, 1, 5, tzinfo=UTC)
    record = build_record(
        inference_time=hour + timedelta(minutes=7),
        request=Payload("text/csv", b"1," * 500 + b"1"),
        response=Payload("text/csv", b"0.5"),
    )
    per_file = max(1, file_bytes // len(record))
    files = max(1, round(total_bytes / (per_file * len(record))))
    for _ in range(files):
        folder = spool / "sealed" / partition_key("bench", "AllTraffic", hour)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / file_name(datetime.now(UTC), uuid.uuid4())).write_bytes(record * per_file)
    return files, files * per_file


def sample(admin_port: int, pid: int, started: float) -> dict[str, float]:
    metrics = scrape(admin_port)
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_bytes": rss_bytes(pid),
        "queue_bytes": metrics.get("infertap_capture_queue_bytes", 0.0),
        "spool_bytes": metrics.get("infertap_spool_bytes", 0.0),
    }


def run_load(
    args: argparse.Namespace, url: str, admin_port: int, pid: int
) -> tuple[list[dict[str, float]], str]:
    """wrk for --seconds while RSS is sampled every second: (samples, wrk's summary line)."""
    wrk = subprocess.Popen(
        [
            *("taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{args.connections}"),
            *(f"-d{args.seconds:g}s", "-s", str(lua_script()), url),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    try:
        while wrk.poll() is None and time.monotonic() - started < args.seconds + 30:
            samples.append(sample(admin_port, pid, started))
            if len(samples) % 10 == 0:
                s = samples[-1]
                say(
                    f"t={s['t']:5.0f}s  RSS {s['rss_bytes'] / MIB:6.1f} MiB  "
                    f"queue {s['queue_bytes'] / MIB:5.1f} MiB  "
                    f"spool {s['spool_bytes'] / MIB:5.1f} MiB"
                )
            time.sleep(1.0)
    finally:
        if wrk.poll() is None:
            wrk.kill()
        out = wrk.communicate(timeout=30)[0]
    return samples, next((ln.strip() for ln in out.splitlines() if "requests in" in ln), "")


def peak_rss(pid: int) -> int:
    """The kernel's high-water mark of the process's RSS (VmHWM), in bytes."""
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("VmHWM:"):
            return int(text.split()[1]) * 1024
    return 0


@dataclass
class Run:
    """What one run measured."""

    prefilled: tuple[int, int]  # files, records
    idle_rss: int
    samples: list[dict[str, float]]
    wrk: str
    metrics: dict[str, float]
    high_water: int
    exit_code: int | None
    shutdown_seconds: float
    files_left: int


def env_for(s3_port: int) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{s3_port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def run(args: argparse.Namespace, s3_port: int) -> Run:
    """Prefill, start upstream and sidecar, load it while sampling RSS, then SIGTERM it."""
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        prefilled = (0, 0)
        if args.prefill_mb > 0:
            prefilled = prefill(
                work / "stall" / "spool",
                int(args.prefill_mb * 1e6),
                int(args.prefill_file_mb * MIB),
            )
            say(f"prefilled {prefilled[0]} sealed files, {prefilled[1]} records")
        upstream = f"http://127.0.0.1:{start_upstream(children, LOAD_CPU, work)}"
        sidecar = start_sidecar(
            children,
            "stall",
            upstream,
            work,
            sampling=100,
            cpus=PROXY_CPU,
            destination="s3://stalled-bucket/capture",
            env=env_for(s3_port),
            extra=[
                *("--queue-max-bytes", args.queue_max_bytes),
                *("--spool-max-bytes", args.spool_max_bytes),
                *("--max-file-bytes", "1MiB", "--flush-interval", "5"),
                *("--upload-max-backoff", args.upload_max_backoff),
                *("--upload-timeout", args.upload_timeout),
                *("--shutdown-grace", "5"),
            ],
        )
        pid = sidecar.child.pid
        idle_rss = rss_bytes(pid)
        say(f"RSS at ready {idle_rss / MIB:.1f} MiB")
        samples, wrk = run_load(args, sidecar.url, sidecar.admin_port, pid)
        metrics = scrape(sidecar.admin_port)
        high_water = peak_rss(pid)
        stop_started = time.monotonic()
        exit_code = sidecar.child.stop(timeout=60)
        shutdown_seconds = time.monotonic() - stop_started
        left = len(list((work / "stall" / "spool").rglob("*.jsonl")))
    return Run(
        prefilled, idle_rss, samples, wrk, metrics, high_water, exit_code, shutdown_seconds, left
    )


def report(
    args: argparse.Namespace,
    info: dict[str, object],
    store: str,
    result: Run,
    stalled_connections: int,
) -> bool:
    """Print the figures and write the JSON result; whether peak RSS stayed under the ceiling."""
    queue_max = parse_size(args.queue_max_bytes, "--queue-max-bytes")
    ceiling = result.idle_rss + queue_max + MARGIN
    peak = max([result.high_water, *(s["rss_bytes"] for s in result.samples)])
    within = peak <= ceiling
    outcomes = capture_outcomes(result.metrics)
    uploads = {
        o: result.metrics.get(f'infertap_uploads_total{{outcome="{o}"}}', 0.0)
        for o in UPLOAD_OUTCOMES
    }
    say("")
    say(f"wrk: {result.wrk}")
    say(
        f"peak RSS {peak / MIB:.1f} MiB vs ceiling {ceiling / MIB:.1f} MiB (idle "
        f"{result.idle_rss / MIB:.1f} + queue {queue_max / MIB:.0f} + {MARGIN // MIB}): "
        + ("within" if within else "ABOVE")
    )
    say("capture outcomes: " + ", ".join(f"{k}={v:.0f}" for k, v in sorted(outcomes.items()) if v))
    say("upload attempts: " + ", ".join(f"{k}={v:.0f}" for k, v in uploads.items() if v))
    if args.s3 == "hang":
        say(f"stalled server accepted {stalled_connections} connections")
    say(
        f"SIGTERM with uploads stuck: exit {result.exit_code} after "
        f"{result.shutdown_seconds:.1f}s, {result.files_left} capture files left in the spool "
        "for the next start"
    )
    write_result(
        "s3_stall",
        {
            "method": {
                "seconds": args.seconds,
                "s3": store,
                "prefill": {
                    "mb": args.prefill_mb,
                    "files": result.prefilled[0],
                    "records": result.prefilled[1],
                },
                "upload_max_backoff": float(args.upload_max_backoff),
                "upload_timeout": float(args.upload_timeout),
                "wrk_connections": args.connections,
                "queue_max_bytes": queue_max,
                "spool_max_bytes": parse_size(args.spool_max_bytes, "--spool-max-bytes"),
                "pinning": f"sidecar on CPU {PROXY_CPU}; upstream + wrk on CPU {LOAD_CPU}",
            },
            "machine": info,
            "idle_rss_bytes": result.idle_rss,
            "ceiling_bytes": ceiling,
            "peak_rss_bytes": peak,
            "within_ceiling": within,
            "capture_outcomes": outcomes,
            "uploads": uploads,
            "stalled_connections": stalled_connections,
            "shutdown": {
                "exit_code": result.exit_code,
                "seconds": result.shutdown_seconds,
                "files_left": result.files_left,
            },
            "wrk": result.wrk,
            "samples": result.samples,
        },
    )
    return within


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    info = machine()
    say(f"== sidecar memory with an unusable S3 destination ({args.s3}) ==")
    describe_machine(info)
    store = (
        "a TCP server that accepts and never answers"
        if args.s3 == "hang"
        else "a closed port (connections refused)"
    )
    say(
        f"method: S3 endpoint = {store}; {args.prefill_mb:g} MB of sealed files waiting in the "
        f"spool at start; wrk -c{args.connections} for {args.seconds:g} s, 100 % capture, "
        f"--queue-max-bytes {args.queue_max_bytes}, --spool-max-bytes {args.spool_max_bytes}, "
        f"--max-file-bytes 1MiB, --upload-max-backoff {args.upload_max_backoff}, --upload-timeout "
        f"{args.upload_timeout}; sidecar on CPU "
        f"{PROXY_CPU}, upstream + wrk on CPU {LOAD_CPU}; RSS sampled every second"
    )
    stall = StallingServer()
    if args.s3 == "hang":
        stall.start()
    s3_port = stall.port if args.s3 == "hang" else free_port()  # nothing listens on it
    try:
        result = run(args, s3_port)
    finally:
        if args.s3 == "hang":
            stall.stop()
    within = report(args, info, store, result, stall.connections)
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
