"""A fixed-rate, open-loop HTTP load generator (what wrk cannot do): request i is due at
start + i / rate. A request sent late because every connection was busy has its latency measured
from its due time, so a slow server cannot hide its own queueing (no coordinated omission).

Run: `python bench/loadgen.py URL --rate 1000 --seconds 10`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlparse

import numpy as np

# One breast-cancer row: 30 features, ~300 bytes, the size of a typical single-row inference.
BREAST_CANCER_ROW = (
    "17.99,10.38,122.8,1001.0,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871,1.095,0.9053,8.589,"
    "153.4,0.006399,0.04904,0.05373,0.01587,0.03003,0.006193,25.38,17.33,184.6,2019.0,0.1622,"
    "0.6656,0.7119,0.2654,0.4601,0.1189"
)
FEATURES = BREAST_CANCER_ROW.split(",")


def csv_row(features: int = len(FEATURES)) -> str:
    """A CSV request body of `features` floats (the breast-cancer row repeated as needed)."""
    return ",".join(FEATURES[i % len(FEATURES)] for i in range(features)) + "\n"


CSV_ROW = csv_row()


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    lower = head.lower()
    marker = lower.find(b"\r\ncontent-length:")
    if marker >= 0:
        end = lower.find(b"\r\n", marker + 2)
        await reader.readexactly(int(lower[marker + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def generate(
    url: str,
    rate: float,
    seconds: float,
    connections: int,
    body: bytes = CSV_ROW.encode(),
    warm: bool = True,
) -> tuple[list[float], int, float]:
    """Send `rate * seconds` requests on schedule; return (latencies s, errors, elapsed s).

    With `warm`, each connection first sends one request that is not measured, so the figures
    are a keep-alive client's steady state rather than a connection's first exchange (which also
    opens the proxy's upstream connection)."""
    target = urlparse(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    request = (
        f"POST {target.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    next_index = 0
    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    start = time.perf_counter() + 0.5  # let every connection open (and warm up) first

    async def connection() -> None:
        nonlocal next_index, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            if warm:
                writer.write(request)
                await read_response(reader)
            while next_index < total:
                index = next_index
                next_index += 1
                due = start + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    # On time: measure from the actual send, so the event loop's millisecond
                    # timer granularity is not counted as server latency.
                    await asyncio.sleep(delay)
                    sent = time.perf_counter()
                else:
                    # Late because every connection was busy: count the wait from the due time.
                    sent = due
                writer.write(request)
                status = await read_response(reader)
                latencies.append(time.perf_counter() - sent)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    results = await asyncio.gather(
        *(connection() for _ in range(connections)), return_exceptions=True
    )
    errors += sum(1 for r in results if isinstance(r, BaseException))
    return latencies, errors, time.perf_counter() - start


def summarize(latencies: list[float], errors: int, elapsed: float, rate: float) -> dict[str, float]:
    values = np.asarray(latencies) * 1000.0
    quantiles = np.percentile(values, [50, 90, 99, 99.9]) if values.size else [float("nan")] * 4
    return {
        "target_rate": rate,
        "achieved_rate": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(float(quantiles[0]), 3),
        "p90_ms": round(float(quantiles[1]), 3),
        "p99_ms": round(float(quantiles[2]), 3),
        "p999_ms": round(float(quantiles[3]), 3),
        "max_ms": round(float(values.max()), 3) if values.size else float("nan"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="measure each connection's first request too (no unmeasured warm-up request)",
    )
    parser.add_argument(
        "--features", type=int, default=len(FEATURES), help="floats in each CSV request body"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    latencies, errors, elapsed = asyncio.run(
        generate(
            args.url,
            args.rate,
            args.seconds,
            args.connections,
            csv_row(args.features).encode(),
            warm=not args.cold,
        )
    )
    summary = summarize(latencies, errors, elapsed, args.rate)
    summary["warm_up_requests"] = 0 if args.cold else args.connections
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
