"""`watch --replay`'s driver: every endpoint replayed in turn into one JSON Lines output."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import IO

from analyzer.live.replay import ReplaySummary, replay
from analyzer.live.settings import LiveSettings, load_live_baseline
from analyzer.reading import storage
from analyzer.scheduling.config import EndpointConfig


def run_replay(
    endpoints: list[EndpointConfig],
    settings: LiveSettings,
    interval: tuple[datetime, datetime],
    target: str,
) -> int:
    """Replay [start, end) for every endpoint into `target` ('-': stdout); print a summary."""
    summary = ReplaySummary()
    with _output(target) as out:
        for endpoint in endpoints:
            baseline = load_live_baseline(endpoint, settings)
            replay(endpoint, baseline, settings, interval, out, summary)
    print(
        f"{summary.evaluations} evaluations of {len(endpoints)} endpoint variants, "
        f"{summary.with_violations} with live violations; {summary.files} capture files read, "
        f"{summary.unreadable_files} unreadable"
    )
    return 0


@contextlib.contextmanager
def _output(target: str) -> Iterator[IO[bytes]]:
    if target == "-":
        yield sys.stdout.buffer
        return
    path = storage.local_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        yield out
