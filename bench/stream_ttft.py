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
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from harness import (
    BENCH_DIR,
    LOAD_CPU,
    PROXY_CPU,
    Children,
    SidecarProcess,
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


@dataclass
class Proxy:
    """A sidecar under test, with its CPU time over its runs and the tokens it relayed."""

    sidecar: SidecarProcess
    idle_rate: float = 0.0  # CPU seconds per second of its own background work
    cpu: float = 0.0
    tokens: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.port}/v1/chat/completions"

    def settle(self) -> None:
        """Measure the background CPU rate (delivery loop, timers), subtracted from runs."""
        before = cpu_seconds(self.sidecar.child.pid)
        time.sleep(2.0)
        self.idle_rate = (cpu_seconds(self.sidecar.child.pid) - before) / 2.0


def run_rounds(
    args: argparse.Namespace, upstream: str, proxies: dict[str, Proxy]
) -> dict[str, list[dict[str, float]]]:
    urls = {"direct": f"{upstream}/v1/chat/completions"}
    urls.update((name, proxy.url) for name, proxy in proxies.items())
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    for round_number in range(1, args.rounds + 1):
        for name, url in urls.items():
            proxy = proxies.get(name)
            before = cpu_seconds(proxy.sidecar.child.pid) if proxy else 0.0
            started = time.monotonic()
            ttfts, received = asyncio.run(run_streams(url, args.streams, args.concurrency))
            if proxy is not None:
                spent = cpu_seconds(proxy.sidecar.child.pid) - before
                proxy.cpu += spent - proxy.idle_rate * (time.monotonic() - started)
                proxy.tokens += received
            result = {"p50_ms": percentile(ttfts, 0.5), "p99_ms": percentile(ttfts, 0.99)}
            runs[name].append(result)
            say(
                f"round {round_number} {name:<12} TTFT p50 {result['p50_ms']:7.3f} ms  "
                f"p99 {result['p99_ms']:7.3f} ms  ({len(ttfts)} streams, {received} tokens)"
            )
    return runs


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
        f"the first token, 10 ms per token); direct, and through a sidecar with capture off "
        f"and with {args.sampling:g} % capture; proxy on CPU {PROXY_CPU}, server + client on "
        f"CPU {LOAD_CPU}"
    )
    with tempfile.TemporaryDirectory(prefix="infertap-bench-") as tmp, Children() as children:
        work = Path(tmp)
        upstream = start_llm(children, work)
        proxies = {
            name: Proxy(
                start_sidecar(children, name, upstream, work, sampling=rate, cpus=PROXY_CPU)
            )
            for name, rate in (("capture_off", 0.0), ("capture_100", args.sampling))
        }
        for proxy in proxies.values():
            proxy.settle()
        runs = run_rounds(args, upstream, proxies)
        full = proxies["capture_100"]
        samples = scrape(full.sidecar.admin_port)
        rss = {
            name: asyncio.run(held_rss(proxy.url, args.held, proxy.sidecar.child.pid))
            for name, proxy in proxies.items()
        }
    summary = {
        name: {key: median([r[key] for r in results]) for key in ("p50_ms", "p99_ms")}
        for name, results in runs.items()
    }
    added = {
        name: {key: summary[name][key] - summary["direct"][key] for key in ("p50_ms", "p99_ms")}
        for name in proxies
    }
    cpu_per_1000 = {
        name: proxy.cpu / proxy.tokens * 1e6 if proxy.tokens else float("nan")
        for name, proxy in proxies.items()
    }
    per_stream = {name: (peak - idle) / args.held for name, (idle, peak, _) in rss.items()}
    captured = samples.get('infertap_capture_records_total{outcome="captured"}', 0.0)
    say("")
    for name, values in summary.items():
        say(f"{name:<12} TTFT p50 {values['p50_ms']:7.3f} ms  p99 {values['p99_ms']:7.3f} ms")
    for name in proxies:
        say(
            f"added by the sidecar ({name}): p50 {added[name]['p50_ms']:+.3f} ms, "
            f"p99 {added[name]['p99_ms']:+.3f} ms; CPU per 1000 streamed tokens "
            f"{cpu_per_1000[name]:.1f} ms; RSS {per_stream[name] / 1024:.1f} KiB per in-flight "
            f"stream ({rss[name][2]} tokens into each)"
        )
    say(f"target: p99 added <= 1 ms at 100 % capture; {captured:.0f} streams captured")
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
                "held_streams": args.held,
            },
            "machine": info,
            "runs": runs,
            "median": summary,
            "added_over_direct": added,
            "captured_streams": captured,
            "cpu_ms_per_1000_tokens": cpu_per_1000,
            "rss_bytes_per_stream": per_stream,
            "held_tokens_median": {name: value[2] for name, value in rss.items()},
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
