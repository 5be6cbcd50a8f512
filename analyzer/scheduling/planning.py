"""Which hours are due for monitoring, as pure functions of the clock (used by `schedule`).

Hour H (its UTC start) covers captures in [H, H+1h). It becomes due at H + 1h + delay, the delay
leaving time for late files (SageMaker starts hourly jobs 0-20 minutes after the hour).
"""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, datetime, timedelta

from sidecar.common.layout import HOUR, hour_of

DEFAULT_DELAY = timedelta(minutes=20)
DEFAULT_CATCH_UP_HOURS = 24


def due_at(hour: datetime, delay: timedelta) -> datetime:
    """When the monitoring run for `hour` may start."""
    return hour_of(hour) + HOUR + delay


def latest_due_hour(now: datetime, delay: timedelta) -> datetime:
    """The newest hour whose run may start at `now`."""
    return hour_of(now.astimezone(UTC) - delay) - HOUR


def first_hour(now: datetime, delay: timedelta, catch_up_hours: int) -> datetime:
    """The oldest hour a scheduler started at `now` looks at: `catch_up_hours` already-due hours.

    With 0 it runs only hours that become due after `now`.
    """
    if catch_up_hours < 0:
        raise ValueError(f"catch_up_hours must be at least 0, got {catch_up_hours}")
    return latest_due_hour(now, delay) - (catch_up_hours - 1) * HOUR


def due_hours(
    now: datetime,
    delay: timedelta,
    since: datetime,
    done: Container[datetime],
    limit: int | None = None,
) -> list[datetime]:
    """Hours from `since` to the latest due one, oldest first, that are not in `done`."""
    hours: list[datetime] = []
    hour = hour_of(since)
    last = latest_due_hour(now, delay)
    while hour <= last and (limit is None or len(hours) < limit):
        if hour not in done:
            hours.append(hour)
        hour += HOUR
    return hours


def next_due_time(now: datetime, delay: timedelta) -> datetime:
    """The first moment after `now` at which another hour becomes due."""
    return due_at(latest_due_hour(now, delay) + HOUR, delay)
