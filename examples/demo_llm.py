"""The demo's LLM phase: streamed chat traffic through the sidecar, then drift in its descriptors.

examples/llm_server.py answers token by token; one sidecar per phase captures the streams
(assembled into the equivalent responses). The baseline is taken from the clean phase's captured
traffic (`baseline --captures`); the drifted phase sends longer prompts and asks for longer
answers, and its monitoring run reports which descriptors moved.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from demo_analysis import AnalyzerFailed, PhaseReport, analyzer, monitor_phases
from processes import Child, Children, free_port, tail

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TOPICS = ("weather", "billing", "shipping", "returns", "passwords", "invoices", "opening hours")


@dataclass(frozen=True, slots=True)
class StreamTraffic:
    sent: int
    ok: int
    tokens: int
    seconds: float


def chat_requests(phase: str, count: int, seed: int) -> list[dict[str, Any]]:
    """Support questions; the drifted phase's are long and ask for long answers."""
    rng = random.Random(f"{seed}-{phase}")
    bodies = []
    for _ in range(count):
        topic = rng.choice(TOPICS)
        question = f"How do I deal with {topic}?"
        if phase == "drifted":
            question += " Here is everything that happened so far: " + "and then " * rng.randint(
                60, 120
            )
        bodies.append(
            {
                "model": "demo-llm-1b",
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": rng.randint(8, 24) if phase == "clean" else rng.randint(60, 120),
                "messages": [
                    {"role": "system", "content": "You are a helpful support assistant."},
                    {"role": "user", "content": question},
                ],
            }
        )
    return bodies


async def _stream_all(url: str, bodies: Sequence[dict[str, Any]], concurrency: int) -> int:
    """Send every request, reading each stream to its end; the number answered whole."""
    pending = list(bodies)
    ok = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok
        while pending:
            body = pending.pop()
            async with session.post(url, data=orjson.dumps(body)) as response:
                data = await response.read()
            ok += response.status == 200 and data.endswith(b"data: [DONE]\n\n")

    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return ok


def send_streams(
    url: str, bodies: Sequence[dict[str, Any]], concurrency: int = 16
) -> StreamTraffic:
    loop = asyncio.new_event_loop()
    try:
        started = loop.time()
        ok = loop.run_until_complete(_stream_all(url, bodies, concurrency))
        seconds = loop.time() - started
    finally:
        loop.close()
    tokens = sum(int(b["max_tokens"]) for b in bodies)
    return StreamTraffic(len(bodies), ok, tokens, seconds)


def start_llm_server(children: Children, out: Path) -> tuple[Child, str]:
    port = free_port()
    server = children.start(
        "LLM server",
        [sys.executable, "examples/llm_server.py", "--port", str(port)],
        log_path=out / "logs" / "llm_server.log",
    )
    upstream = f"http://127.0.0.1:{port}"
    server.wait_http(f"{upstream}/health")
    return server, upstream


def capture_baseline(
    captures: Path, endpoint: str, window: tuple[datetime, datetime], output: Path, log: Path
) -> tuple[Path, Path]:
    """`analyzer baseline --captures` over the clean phase's window."""
    code = analyzer(
        [
            "baseline",
            *("--captures", str(captures), "--endpoint-name", endpoint),
            *("--start", window[0].strftime(TIME_FORMAT), "--end", window[1].strftime(TIME_FORMAT)),
            *("--output", str(output)),
        ],
        log,
    )
    statistics, constraints = output / "statistics.json", output / "constraints.json"
    if code != 0 or not statistics.exists():
        raise AnalyzerFailed(f"`analyzer baseline --captures` exited with {code}:\n{tail(log)}")
    return statistics, constraints


def monitor_llm(
    out: Path,
    reports: Sequence[PhaseReport],
    window: tuple[datetime, datetime],
    say: Callable[[str], None],
) -> None:
    """Baseline from the clean phase's captures, then a run per phase against it."""
    clean = reports[0].endpoint
    baseline = capture_baseline(
        out / "capture", clean, window, out / "baseline-llm", out / "logs" / "baseline-llm.log"
    )
    monitor_phases(out, reports, baseline, window, say)


def llm_traffic(
    sidecars: Sequence[Any],
    streams: int,
    seed: int,
    say: Callable[[str], None],
    captured: Callable[[int, int], float],
) -> list[PhaseReport]:
    """Clean streams through the first sidecar, drifted ones through the second."""
    reports = []
    for phase, sidecar in zip(("clean", "drifted"), sidecars, strict=True):
        bodies = chat_requests(phase, streams, seed)
        result = send_streams(f"http://127.0.0.1:{sidecar.port}/v1/chat/completions", bodies)
        say(
            f"LLM {phase} phase: {result.ok}/{result.sent} streams read to [DONE] via the "
            f"sidecar in {result.seconds:.1f}s (~{result.tokens} tokens); sidecar counts "
            f"{captured(sidecar.admin_port, result.ok):.0f} captured"
        )
        if result.ok != result.sent:
            raise AnalyzerFailed(f"{result.sent - result.ok} {phase} streams failed")
        reports.append(PhaseReport(f"llm-{phase}", sidecar.endpoint, result.ok))
    return reports
