"""`watch --replay`'s driver: every endpoint replayed in turn into one JSON Lines output."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import IO

from analyzer.commands.flags import parse_utc_time, require
from analyzer.errors import ConfigError
from analyzer.live.replay import ReplaySummary, replay
from analyzer.live.settings import LiveSettings, load_live_baseline
from analyzer.reading import storage
from analyzer.scheduling.config import EndpointConfig


def run_replay(
    args: argparse.Namespace, endpoints: list[EndpointConfig], settings: LiveSettings
) -> int:
    """Replay [--start, --end) for every endpoint; print a summary line; exit 0."""
    interval = replay_interval(args)
    summary = ReplaySummary()
    with _output(args.evaluations_out) as out:
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


def replay_interval(args: argparse.Namespace) -> tuple[datetime, datetime]:
    require(args, "start", "end", "evaluations_out", when="with --replay")
    start = parse_utc_time(args.start, "--start")
    end = parse_utc_time(args.end, "--end")
    if end <= start:
        raise ConfigError(f"--end ({args.end}) must be after --start ({args.start})")
    return start, end
