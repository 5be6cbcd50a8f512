"""The demo's traffic: clean rows resampled from the training data, and a drifted variant of them.

Clean rows are training rows drawn with replacement, each value scaled by 1 +- 1 % noise (so values
stay non-negative, as in training). Drifted rows shift the mean of a few features by a multiple of
their training standard deviation and leave one feature empty in part of the rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import numpy as np
from numpy.typing import NDArray

# Feature -> shift of its mean, in training standard deviations.
DRIFT_SHIFTS: Mapping[str, float] = {"mean_texture": 1.5, "mean_smoothness": 1.5, "worst_area": 1.0}
MISSING_FEATURE = "mean_symmetry"
MISSING_SHARE = 0.3
NOISE = 0.01


@dataclass(frozen=True)
class TrafficResult:
    sent: int
    ok: int
    failed: int
    seconds: float


def clean_rows(data: NDArray[np.float64], n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    picked = data[rng.integers(0, len(data), n)]
    rows: NDArray[np.float64] = picked * (1.0 + rng.normal(0.0, NOISE, picked.shape))
    return rows


def drifted_rows(
    data: NDArray[np.float64],
    features: Sequence[str],
    n: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    rows = clean_rows(data, n, rng)
    std = data.std(axis=0)
    for name, shift in DRIFT_SHIFTS.items():
        column = features.index(name)
        rows[:, column] += shift * std[column]
    missing = rng.random(n) < MISSING_SHARE
    rows[missing, features.index(MISSING_FEATURE)] = np.nan
    return rows


def csv_line(row: NDArray[np.float64]) -> str:
    """One CSV row; a missing value is an empty field, numbers in fixed notation."""
    return ",".join("" if np.isnan(v) else f"{v:.6f}" for v in row)


async def _send_all(url: str, bodies: Sequence[str], concurrency: int) -> TrafficResult:
    started = time.monotonic()
    todo: Iterator[str] = iter(bodies)
    ok = failed = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok, failed
        for body in todo:
            headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        ok += 1
                    else:
                        failed += 1
            except aiohttp.ClientError:
                failed += 1

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return TrafficResult(len(bodies), ok, failed, time.monotonic() - started)


def send_csv_rows(
    url: str, rows: NDArray[np.float64], concurrency: int = 16, rows_per_request: int = 1
) -> TrafficResult:
    """POST the rows as text/csv to `url`, `rows_per_request` rows a request; count answers."""
    lines = [csv_line(row) for row in rows]
    bodies = [
        "\n".join(lines[i : i + rows_per_request]) + "\n"
        for i in range(0, len(lines), rows_per_request)
    ]
    return asyncio.run(_send_all(url, bodies, concurrency))
