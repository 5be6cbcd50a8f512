"""Sidecar memory while S3 stalls: the destination accepts TCP connections and never answers.

Under full wrk load with 100 % capture for a bounded time (default 60 s; `--seconds 600` for the
ten-minute version), RSS of the sidecar is sampled every second. Capture must stay bounded: the
in-memory queue by --queue-max-bytes, the spool by --spool-max-bytes on disk, the rest dropped
and counted. Reports peak RSS against the ceiling `idle RSS + queue_max_bytes`, the drop
counters, and how SIGTERM behaves with uploads stuck (files stay in the spool for the next start).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
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

from sidecar.settings import parse_size

MIB = 2**20


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
    parser.add_argument("--queue-max-bytes", default="16MiB")
    parser.add_argument("--spool-max-bytes", default="32MiB")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--quick", action="store_true", help="15 s under load")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 15.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    info = machine()
    queue_max = parse_size(args.queue_max_bytes, "--queue-max-bytes")
    say("== sidecar memory with a stalled S3 destination ==")
    describe_machine(info)
    say(
        f"method: S3 endpoint = a TCP server that accepts and never answers; wrk -c"
        f"{args.connections} for {args.seconds:g} s, 100 % capture, --queue-max-bytes "
        f"{args.queue_max_bytes}, --spool-max-bytes {args.spool_max_bytes}, --max-file-bytes 1MiB;"
        f" sidecar on CPU {PROXY_CPU}, upstream + wrk on CPU {LOAD_CPU}; RSS sampled every second"
    )
    stall = StallingServer()
    stall.start()
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        upstream = f"http://127.0.0.1:{start_upstream(children, LOAD_CPU, work)}"
        env = {
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{stall.port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        sidecar = start_sidecar(
            children,
            "stall",
            upstream,
            work,
            sampling=100,
            cpus=PROXY_CPU,
            destination="s3://stalled-bucket/capture",
            env=env,
            extra=[
                *("--queue-max-bytes", args.queue_max_bytes),
                *("--spool-max-bytes", args.spool_max_bytes),
                *("--max-file-bytes", "1MiB", "--flush-interval", "5"),
                *("--shutdown-grace", "5"),
            ],
        )
        pid = sidecar.child.pid
        idle_rss = rss_bytes(pid)
        ceiling = idle_rss + queue_max
        say(f"idle RSS {idle_rss / MIB:.1f} MiB; ceiling {ceiling / MIB:.1f} MiB")
        wrk = subprocess.Popen(
            [
                *("taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{args.connections}"),
                *(f"-d{args.seconds:g}s", "-s", str(lua_script()), sidecar.url),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started = time.monotonic()
        try:
            while wrk.poll() is None and time.monotonic() - started < args.seconds + 30:
                metrics = scrape(sidecar.admin_port)
                sample = {
                    "t": round(time.monotonic() - started, 1),
                    "rss_bytes": rss_bytes(pid),
                    "queue_bytes": metrics.get("infertap_capture_queue_bytes", 0.0),
                    "spool_bytes": metrics.get("infertap_spool_bytes", 0.0),
                }
                samples.append(sample)
                if len(samples) % 10 == 0:
                    say(
                        f"t={sample['t']:5.0f}s  RSS {sample['rss_bytes'] / MIB:6.1f} MiB  "
                        f"queue {sample['queue_bytes'] / MIB:5.1f} MiB  "
                        f"spool {sample['spool_bytes'] / MIB:5.1f} MiB"
                    )
                time.sleep(1.0)
        finally:
            if wrk.poll() is None:
                wrk.kill()
            wrk_out = wrk.communicate(timeout=30)[0]
        metrics = scrape(sidecar.admin_port)
        outcomes = capture_outcomes(metrics)
        uploads = {
            "success": metrics.get('infertap_uploads_total{outcome="success"}', 0.0),
            "error": metrics.get('infertap_uploads_total{outcome="error"}', 0.0),
        }
        stop_started = time.monotonic()
        exit_code = sidecar.child.stop(timeout=60)
        shutdown_seconds = time.monotonic() - stop_started
        left = [p for p in (work / "stall" / "spool").rglob("*.jsonl")]
    stall.stop()

    peak = max(s["rss_bytes"] for s in samples) if samples else 0.0
    within = peak <= ceiling
    requests = next((ln.strip() for ln in wrk_out.splitlines() if "requests in" in ln), "")
    say("")
    say(f"wrk: {requests}")
    say(
        f"peak RSS {peak / MIB:.1f} MiB vs ceiling {ceiling / MIB:.1f} MiB "
        f"(idle {idle_rss / MIB:.1f} + queue {queue_max / MIB:.0f}): "
        + ("within" if within else "ABOVE")
    )
    shown = ", ".join(f"{k}={v:.0f}" for k, v in sorted(outcomes.items()) if v)
    say(f"capture outcomes: {shown}")
    say(
        f"uploads: {uploads['success']:.0f} ok, {uploads['error']:.0f} failed; stalled server "
        f"accepted {stall.connections} connections"
    )
    say(
        f"SIGTERM with uploads stuck: exit {exit_code} after {shutdown_seconds:.1f}s, "
        f"{len(left)} capture files left in the spool for the next start"
    )
    write_result(
        "s3_stall",
        {
            "method": {
                "seconds": args.seconds,
                "wrk_connections": args.connections,
                "queue_max_bytes": queue_max,
                "spool_max_bytes": parse_size(args.spool_max_bytes, "--spool-max-bytes"),
                "pinning": f"sidecar on CPU {PROXY_CPU}; upstream + wrk on CPU {LOAD_CPU}",
                "s3": "TCP server that accepts and never answers",
            },
            "machine": info,
            "idle_rss_bytes": idle_rss,
            "ceiling_bytes": ceiling,
            "peak_rss_bytes": peak,
            "within_ceiling": within,
            "capture_outcomes": outcomes,
            "uploads": uploads,
            "stalled_connections": stall.connections,
            "shutdown": {
                "exit_code": exit_code,
                "seconds": shutdown_seconds,
                "files_left": len(left),
            },
            "wrk": requests,
            "samples": samples,
        },
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
