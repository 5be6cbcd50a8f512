"""Sidecar memory with many large token streams in flight, against the bound the README states.

An upstream in this process answers each `POST /v1/chat/completions` with OpenAI-compatible
chunks of about 1 KB of content each, `--stream-bytes` in all, then holds the stream open until
every stream has delivered them to its client; then all finish (finish reason, `[DONE]`). The
sidecar's RSS is read idle, with all `--streams` in flight, and at its peak (VmHWM): capture
off, then 100 % capture. The difference of the peaks is what capture costs, to compare with
`--queue-max-bytes` + `--capture-inflight-bytes`; the rest is forwarding (each stream's read and
write buffers, up to about 256 KiB), which the README's bound states per stream in flight. The
capture outcomes show what the in-flight budget refused (`inflight_full`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web
from harness import (
    Children,
    describe_machine,
    free_port,
    machine,
    say,
    scrape,
    start_sidecar,
    write_result,
)

MIB = 1 << 20
MARGIN = 32 * MIB
QUEUE = "16MiB"
BUDGET = 32 * MIB  # --capture-inflight-bytes' default
EVENT_CONTENT = 1000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=150, help="streams in flight at once")
    parser.add_argument("--stream-bytes", type=int, default=600_000, help="content per stream")
    parser.add_argument("--quick", action="store_true", help="60 streams")
    args = parser.parse_args(argv)
    if args.quick:
        args.streams = 60
    return args


def chunk(content: str | None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "model": "bench-llm",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


class HoldingUpstream:
    """Streams one large chunk each, then waits for `release` before finishing."""

    def __init__(self, stream_bytes: int) -> None:
        # Tokens as a model server sends them, many small events, written at once.
        events = max(1, stream_bytes // EVENT_CONTENT)
        self.first = b"".join(chunk("x" * EVENT_CONTENT) for _ in range(events))
        self.release = asyncio.Event()

    async def completions(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(self.first)
        await self.release.wait()
        await response.write(chunk(None, "stop") + b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_get("/ping", pong)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, f"http://127.0.0.1:{port}"


async def pong(request: web.Request) -> web.Response:
    return web.Response(text="pong")


def status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


async def hold_streams(url: str, upstream: HoldingUpstream, count: int, pid: int) -> int:
    """Open `count` streams, wait until each has its large chunk, read RSS, let them finish."""
    arrived = 0
    all_arrived = asyncio.Event()
    body = orjson.dumps({"model": "bench-llm", "stream": True, "messages": []})
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            nonlocal arrived
            async with session.post(url, data=body) as response:
                received = 0
                while received < len(upstream.first):
                    data = await response.content.read(1 << 16)
                    if not data:
                        raise RuntimeError("a stream ended before its first chunk")
                    received += len(data)
                arrived += 1
                if arrived == count:
                    all_arrived.set()
                await response.read()

        readers = asyncio.gather(*(one() for _ in range(count)))
        async with asyncio.timeout(120):
            await all_arrived.wait()
        in_flight = status_bytes(pid, "VmRSS")
        upstream.release.set()
        await readers
    upstream.release.clear()
    return in_flight


async def measure(
    args: argparse.Namespace, children: Children, work: Path
) -> dict[str, dict[str, float]]:
    upstream = HoldingUpstream(args.stream_bytes)
    runner, upstream_url = await upstream.start()
    results: dict[str, dict[str, float]] = {}
    try:
        for name, rate in (("capture_off", 0.0), ("capture_100", 100.0)):
            sidecar = await asyncio.to_thread(
                start_sidecar, children, name, upstream_url, work, sampling=rate,
                extra=("--queue-max-bytes", QUEUE),
            )  # fmt: skip
            pid = sidecar.child.pid
            idle = status_bytes(pid, "VmRSS")
            url = f"http://127.0.0.1:{sidecar.port}/v1/chat/completions"
            in_flight = await hold_streams(url, upstream, args.streams, pid)
            peak = status_bytes(pid, "VmHWM")
            await asyncio.sleep(1.0)  # the writer's last batch
            samples = scrape(sidecar.admin_port)
            outcomes = {
                key.split('"')[1]: value
                for key, value in samples.items()
                if key.startswith("infertap_capture_records_total{") and value
            }
            bound = idle + 16 * MIB + BUDGET + MARGIN
            results[name] = {
                "idle_mib": idle / MIB,
                "in_flight_mib": in_flight / MIB,
                "peak_mib": peak / MIB,
                "bound_mib": bound / MIB,
                **{f"outcome_{key}": value for key, value in outcomes.items()},
            }
            say(
                f"{name:<12} RSS idle {idle / MIB:6.1f} MiB, {args.streams} streams in flight "
                f"{in_flight / MIB:6.1f} MiB, peak {peak / MIB:6.1f} MiB; bound "
                f"{bound / MIB:6.1f} MiB; outcomes {outcomes}"
            )
            sidecar.child.stop()
    finally:
        await runner.cleanup()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    say("== many large streams in flight: sidecar memory against the stated bound ==")
    describe_machine(info)
    say(
        f"method: {args.streams} OpenAI-compatible streams of {args.stream_bytes} content bytes "
        f"held in flight at once; --queue-max-bytes {QUEUE}, --capture-inflight-bytes default "
        f"({BUDGET // MIB} MiB); bound = idle + queue + in-flight budget + 32 MiB"
    )
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        results = asyncio.run(measure(args, children, Path(tmp)))
    off, full = results["capture_off"], results["capture_100"]
    cost = full["peak_mib"] - off["peak_mib"]
    allowed = 16 + BUDGET / MIB
    say(
        f"capture adds {cost:.1f} MiB at the peak (queue + in-flight budget: {allowed:.0f} MiB); "
        f"forwarding {args.streams} streams {off['peak_mib'] - off['idle_mib']:.1f} MiB "
        f"({(off['peak_mib'] - off['idle_mib']) * 1024 / args.streams:.0f} KiB per stream)"
    )
    write_result(
        "stream_memory",
        {
            "method": {"streams": args.streams, "stream_bytes": args.stream_bytes, "queue": QUEUE},
            "machine": info,
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
