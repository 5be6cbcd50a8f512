"""`watch --replay`: every step of [start, end) evaluated from the captures already stored, as
fast as they can be read, one JSON line per evaluation and endpoint (DESIGN.md section 13).

Hour folders are read in order; once an hour's folder is read, every step ending by the hour's
end is evaluated (records sit in the folder of their inferenceTime's hour), then the steps that
left the window are dropped, so memory holds one window of steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

import orjson

from analyzer.live.buckets import HOUR_SECONDS, StepBuckets
from analyzer.live.evaluation import LiveBaseline, LiveEvaluation, evaluate_window
from analyzer.live.settings import LiveSettings
from analyzer.live.timeline import iso_seconds, step_start
from analyzer.reading.captures import iter_files, list_window
from analyzer.scheduling.config import EndpointConfig

log = logging.getLogger("infertap.analyzer.watch")


@dataclass(slots=True)
class ReplaySummary:
    """What a replay read and found, for the closing line."""

    evaluations: int = 0
    with_violations: int = 0
    files: int = 0
    unreadable_files: int = 0


def replay_line(endpoint: EndpointConfig, evaluation: LiveEvaluation) -> bytes:
    """`{"endpoint", "variant", "time", "records", "violations": [...]}` and a newline."""
    return orjson.dumps(
        {
            "endpoint": endpoint.name,
            "variant": endpoint.variant,
            "time": iso_seconds(evaluation.end),
            "records": evaluation.records,
            "violations": [v.to_json() for v in evaluation.violations],
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


def replay(
    endpoint: EndpointConfig,
    baseline: LiveBaseline,
    settings: LiveSettings,
    interval: tuple[datetime, datetime],
    out: IO[bytes],
    summary: ReplaySummary,
    on_evaluation: Callable[[LiveEvaluation], None] | None = None,
) -> None:
    """Evaluate every step of the interval for one endpoint variant; write a line per step."""
    start, end = (int(moment.timestamp()) for moment in interval)
    step, window = settings.step, settings.window
    buckets = StepBuckets(baseline.options, step, keep_hours=False)
    pending = step_start(start, step) + step
    hour = step_start(start - window, HOUR_SECONDS)
    while pending <= end:
        _read_hour(endpoint, buckets, hour, end, summary)
        hour += HOUR_SECONDS
        while pending <= min(hour, end):
            evaluation = evaluate_window(buckets, baseline, pending, window, settings.min_records)
            out.write(replay_line(endpoint, evaluation))
            summary.evaluations += 1
            summary.with_violations += bool(evaluation.violations)
            if on_evaluation is not None:
                on_evaluation(evaluation)
            pending += step
            buckets.retire(pending - window)


def _read_hour(
    endpoint: EndpointConfig, buckets: StepBuckets, hour: int, end: int, summary: ReplaySummary
) -> None:
    moment = datetime.fromtimestamp(hour, UTC)
    listing = list_window(
        endpoint.captures,
        endpoint.name,
        endpoint.variant,
        moment,
        datetime.fromtimestamp(hour + HOUR_SECONDS, UTC),
    )
    summary.files += len(listing.files)
    for item in iter_files([f.url for f in listing.files]):
        if item.data is None:
            summary.unreadable_files += 1
            log.warning("unreadable capture file", extra={"file": item.url, "error": item.error})
            continue
        buckets.add_file(hour, item.data, window_start=0, now=end)
