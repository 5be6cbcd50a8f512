"""Time on the live path: durations as flags write them, inferenceTime texts as epoch seconds,
and the steps records fall into."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime

from analyzer.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TIME = re.compile(rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")
DAY_SECONDS = 86400


def duration(text: object, option: str) -> float:
    """`15m`, `1m`, `15s`, `2h` or a number of seconds -> seconds (positive)."""
    match = _DURATION.match(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(
            f"{option} must be a positive duration such as 15m, 1m, 30s or 2h, got {text!r}"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def epoch_of(text: bytes) -> int | None:
    """Whole UTC seconds of an inferenceTime text such as `2026-11-25T08:24:40Z`, or None.

    The fraction and offset are ignored: the sidecar writes UTC (`Z`), and a step is seconds
    wide at least.
    """
    match = _TIME.match(text)
    if match is None:
        return None
    try:
        return calendar.timegm(tuple(int(part) for part in match.groups()))
    except (ValueError, OverflowError):
        return None


def step_start(moment: float, step: int) -> int:
    """The start of the step holding `moment` (steps are aligned on the epoch, so on the hour
    for any step that divides an hour)."""
    return int(moment // step) * step


def iso_seconds(moment: float) -> str:
    """`2026-11-25T08:24:00Z`: a window's end as the replay lines and logs write it."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall_clock() -> float:
    return time.time()
