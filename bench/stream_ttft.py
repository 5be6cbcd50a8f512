"""Token streams through the sidecar: time to first token added, memory per stream, CPU per token.

examples/llm_server.py streams OpenAI-compatible chat completions token by token; the client
(this process, asyncio + aiohttp) keeps `--concurrency` streams in flight and times each one from
sending the request to the first chunk carrying content. Direct to the server and through the
sidecar with 100 % capture (every stream assembled and written), interleaved over several
rounds; the report gives the median p50/p99 of each and the difference. Then the sidecar's CPU
time per 1000 streamed tokens (over its rounds), and its resident memory per in-flight stream
(`--held` long streams open at once, against the idle process). The proxy is pinned to one core,
the server and the client to the other.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import orjson
from harness import (
    BENCH_DIR,
    LOAD_CPU,
    PROXY_CPU,
    Children,
    describe_machine,
    free_port,
    machine,
    median,
    process_tree,
    raise_on_sigterm,
    rss_bytes,
    say,
    scrape,
    start_sidecar,
    write_result,
)

TOKENS = 32
CONTENT = b'"content"'


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50, help="streams in flight")
    parser.add_argument("--streams", type=int, default=400, help="streams per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--held", type=int, default=200, help="streams held for the RSS figure")
    parser.add_argument("--sampling", type=float, default=100.0, help="sidecar sampling %%")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 150 streams, 50 held")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.streams, args.held = 2, 150, 50
    return args


def body(max_tokens: int) -> bytes:
    return orjson.dumps(
        {
            "model": "demo-llm-1b",
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "How do streams pass the sidecar?"}],
        }
    )


async def one_stream(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    """(milliseconds to the first content chunk, content events received)."""
    started = time.perf_counter()
    first = 0.0
    events = 0
    async with session.post(url, data=body(TOKENS)) as response:
        async for chunk in response.content.iter_any():
            found = chunk.count(CONTENT)
            if found and not first:
                first = time.perf_counter()
            events += found
    return (first - started) * 1000.0, events


async def run_streams(url: str, count: int, concurrency: int) -> tuple[list[float], int]:
    """TTFTs (ms) of `count` streams, `concurrency` at a time, and the tokens received."""
    ttfts: list[float] = []
    tokens = 0
    remaining = count
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, headers={"Content-Type": "application/json"}
    ) as session:

        async def worker() -> None:
            nonlocal remaining, tokens
            while remaining > 0:
                remaining -= 1
                ttft, events = await one_stream(session, url)
                ttfts.append(ttft)
                tokens += events

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ttfts, tokens


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


async def held_rss(url: str, held: int, sidecar_pid: int) -> tuple[int, int, int]:
    """(RSS idle, RSS with `held` long streams in flight and read, tokens each had then)."""
    idle = rss_bytes(sidecar_pid)
    connector = aiohttp.TCPConnector(limit=held)
    counts = [0] * held

    async def read(session: aiohttp.ClientSession, index: int) -> None:
        async with session.post(url, data=body(3000)) as response:
            async for chunk in response.content.iter_any():
                counts[index] += chunk.count(CONTENT)

    async with aiohttp.ClientSession(
        connector=connector, headers={"Content-Type": "application/json"}
    ) as session:
        readers = [asyncio.create_task(read(session, i)) for i in range(held)]
        await asyncio.sleep(2.0)  # some 150 tokens each at 10 ms per token
        peak = rss_bytes(sidecar_pid)
        tokens = sorted(counts)[held // 2]
        for reader in readers:
            reader.cancel()  # the client goes away: the sidecar cancels the upstream
        await asyncio.gather(*readers, return_exceptions=True)
    return idle, peak, tokens


def start_llm(children: Children, work: Path) -> str:
    port = free_port()
    child = children.start(
        "llm server",
        [
            *(sys.executable, str(BENCH_DIR.parent / "examples" / "llm_server.py")),
            *("--port", str(port), "--first-token-delay", "0.02", "--token-delay", "0.01"),
        ],
        log_path=work / "llm_server.log",
        cpus=LOAD_CPU,
    )
    child.wait_http(f"http://127.0.0.1:{port}/ping")
    return f"http://127.0.0.1:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    info = machine()
    say("== token streams: time to first token through the sidecar ==")
    describe_machine(info)
    say(
        f"method: {args.streams} streams of {TOKENS} tokens per run, {args.concurrency} in "
        f"flight, {args.rounds} interleaved rounds; server: examples/llm_server.py (20 ms to "
        f"the first token, 10 ms per token); proxy on CPU {PROXY_CPU}, server + client on "
        f"CPU {LOAD_CPU}; sidecar at {args.sampling:g} % sampling"
    )
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "sidecar": []}
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        upstream = start_llm(children, work)
        sidecar = start_sidecar(
            children, "streams", upstream, work, sampling=args.sampling, cpus=PROXY_CPU
        )
        urls = {
            "direct": f"{upstream}/v1/chat/completions",
            "sidecar": f"http://127.0.0.1:{sidecar.port}/v1/chat/completions",
        }
        # The sidecar's own background work (delivery loop, timers), subtracted from each run.
        idle_before = cpu_seconds(sidecar.child.pid)
        time.sleep(2.0)
        idle_rate = (cpu_seconds(sidecar.child.pid) - idle_before) / 2.0
        cpu = 0.0
        tokens = 0
        for round_number in range(1, args.rounds + 1):
            for name, url in urls.items():
                before, started = cpu_seconds(sidecar.child.pid), time.monotonic()
                ttfts, received = asyncio.run(run_streams(url, args.streams, args.concurrency))
                if name == "sidecar":
                    elapsed = time.monotonic() - started
                    cpu += cpu_seconds(sidecar.child.pid) - before - idle_rate * elapsed
                    tokens += received
                result = {"p50_ms": percentile(ttfts, 0.5), "p99_ms": percentile(ttfts, 0.99)}
                runs[name].append(result)
                say(
                    f"round {round_number} {name:<8} TTFT p50 {result['p50_ms']:7.3f} ms  "
                    f"p99 {result['p99_ms']:7.3f} ms  ({len(ttfts)} streams, {received} tokens)"
                )
        samples = scrape(sidecar.admin_port)
        idle, peak, held_tokens = asyncio.run(
            held_rss(urls["sidecar"], args.held, sidecar.child.pid)
        )
    summary = {
        name: {key: median([r[key] for r in results]) for key in ("p50_ms", "p99_ms")}
        for name, results in runs.items()
    }
    added = {key: summary["sidecar"][key] - summary["direct"][key] for key in ("p50_ms", "p99_ms")}
    per_stream = (peak - idle) / args.held
    cpu_per_1000 = cpu / tokens * 1000.0 if tokens else float("nan")
    captured = samples.get('infertap_capture_records_total{outcome="captured"}', 0.0)
    say("")
    for name, values in summary.items():
        say(f"{name:<8} TTFT p50 {values['p50_ms']:7.3f} ms  p99 {values['p99_ms']:7.3f} ms")
    say(
        f"added by the sidecar: p50 {added['p50_ms']:+.3f} ms, p99 {added['p99_ms']:+.3f} ms "
        f"(target: p99 <= 1 ms); {captured:.0f} streams captured"
    )
    say(
        f"sidecar CPU per 1000 streamed tokens: {cpu_per_1000 * 1000:.1f} ms "
        f"(relay, assembly and capture; idle background CPU subtracted)"
    )
    say(
        f"sidecar RSS: idle {idle / 2**20:.1f} MiB, with {args.held} streams in flight "
        f"{peak / 2**20:.1f} MiB: {per_stream / 1024:.1f} KiB per stream "
        f"({held_tokens} tokens into each, median)"
    )
    write_result(
        "stream_ttft",
        {
            "method": {
                "streams_per_run": args.streams,
                "tokens_per_stream": TOKENS,
                "concurrency": args.concurrency,
                "rounds": args.rounds,
                "server": "examples/llm_server.py, 20 ms first-token delay, 10 ms per token",
                "pinning": f"proxy on CPU {PROXY_CPU}; server + client on CPU {LOAD_CPU}",
                "sampling_percentage": args.sampling,
            },
            "machine": info,
            "runs": runs,
            "median": summary,
            "added_over_direct": added,
            "captured_streams": captured,
            "cpu_ms_per_1000_tokens": cpu_per_1000 * 1000,
            "rss_idle_bytes": idle,
            "rss_held_bytes": peak,
            "held_streams": args.held,
            "held_tokens_median": held_tokens,
            "rss_bytes_per_stream": per_stream,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
