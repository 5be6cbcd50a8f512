"""One watched endpoint variant: its new files read once, its steps, its evaluations, its hours.

Everything here runs on the watcher's event loop thread except the hour reports, which get the
hour's profile handed over (nothing shared) and run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.live.buckets import HOUR_SECONDS, FileOutcome, StepBuckets
from analyzer.live.estimates import predictor_of
from analyzer.live.evaluation import LiveBaseline, LiveEvaluation, evaluate_window
from analyzer.live.follow import CaptureFollower, NewFile
from analyzer.live.metrics import LiveMetrics
from analyzer.live.settings import LiveSettings, fingerprint, load_live_baseline
from analyzer.live.timeline import step_start
from analyzer.reading import storage
from analyzer.scheduling.config import EndpointConfig

log = logging.getLogger("infertap.analyzer.watch")
READ_CONCURRENCY = 16


@dataclass(slots=True)
class EndpointWatch:
    """The live state of one endpoint variant (see the module docstring)."""

    endpoint: EndpointConfig
    settings: LiveSettings
    metrics: LiveMetrics
    baseline: LiveBaseline
    started: float
    follower: CaptureFollower = field(init=False)
    buckets: StepBuckets = field(init=False)
    newest: dict[str, float] = field(init=False)
    last: LiveEvaluation | None = None
    first_hour: int = 0  # the first hour whose folder is read whole (reportable)
    reported_before: int = 0  # hours before this one are reported or skipped
    polls: int = 0

    def __post_init__(self) -> None:
        e = self.endpoint
        self.follower = CaptureFollower(e.captures, e.name, e.variant)
        self.buckets = StepBuckets(
            self.baseline.options, self.settings.step, bool(e.output), predictor_of(e)
        )
        self.newest = {"time": self.started}
        self.first_hour = step_start(self.started - self.lookback, HOUR_SECONDS)
        self.reported_before = self.first_hour
        self.metrics.start(e.name, e.variant, self.newest)

    @property
    def labels(self) -> tuple[str, str]:
        return self.endpoint.name, self.endpoint.variant

    @property
    def lookback(self) -> float:
        """How far back folders are followed: the window, and an open hour's whole folder."""
        window = float(self.settings.window)
        if not self.endpoint.output:
            return window
        return max(window, HOUR_SECONDS + 60 * self.settings.delay_of(self.endpoint))

    async def poll(self, now: float, client: Any) -> None:
        """List the followed folders, read the new files and profile them into steps."""
        first = max(self.first_hour, step_start(now - self.lookback, HOUR_SECONDS))
        self.follower.forget_before(first)
        hours = list(range(first, step_start(now, HOUR_SECONDS) + 1, HOUR_SECONDS))
        try:
            new = await self.follower.poll(hours, client)
        except AnalyzerError as exc:
            self.metrics.errors.labels(*self.labels, "listing").inc()
            log.error(
                "cannot list captures", extra={"endpoint": self.endpoint.label, "error": str(exc)}
            )
            return
        window_start = (
            step_start(now, self.settings.step) + self.settings.step - self.settings.window
        )
        catching_up = self.polls == 0
        self.polls += 1
        semaphore = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(item: NewFile) -> tuple[NewFile, bytes | None, str]:
            async with semaphore:
                try:
                    return item, await storage.aread_bytes(item.url, client), ""
                except AnalyzerError as exc:
                    return item, None, str(exc)

        for item, data, error in await asyncio.gather(*(read(f) for f in new)):
            if data is None:
                self.metrics.files.labels(*self.labels, "unreadable").inc()
                log.warning("unreadable capture file", extra={"file": item.url, "error": error})
                continue
            outcome = self.buckets.add_file(item.hour, data, window_start, now)
            self._count(outcome, catching_up)

    def _count(self, outcome: FileOutcome, catching_up: bool) -> None:
        late = outcome.late and not catching_up  # on start, old records are expected
        self.metrics.files.labels(*self.labels, "late" if late else "read").inc()
        placed = outcome.records - outcome.late - outcome.future - outcome.untimed
        records = self.metrics.records
        records.labels(*self.labels, "window").inc(placed)
        records.labels(*self.labels, "future").inc(outcome.future)
        records.labels(*self.labels, "no_time").inc(outcome.untimed)
        if not catching_up:
            records.labels(*self.labels, "late").inc(outcome.late)
        if outcome.newest is not None and outcome.newest > self.newest["time"]:
            self.newest["time"] = float(outcome.newest)

    def evaluate(self, end: int) -> LiveEvaluation:
        """Check the window ending at `end`, publish it, and retire the steps it leaves behind."""
        self._reload_baseline()
        s = self.settings
        evaluation = evaluate_window(self.buckets, self.baseline, end, s.window, s.min_records)
        self.metrics.publish(*self.labels, evaluation, self.baseline.options.columns)
        self.last = evaluation
        self.buckets.retire(end + s.step - s.window)
        return evaluation

    def _reload_baseline(self) -> None:
        """A replaced baseline is used from the next step on; an unreadable one is an error
        (counted and logged) and the last good one stays."""
        try:
            if fingerprint(self.endpoint) == self.baseline.fingerprint:
                return
            self.baseline = load_live_baseline(self.endpoint, self.settings)
            self.buckets.options = self.baseline.options
            log.info("baseline reloaded", extra={"endpoint": self.endpoint.label})
        except AnalyzerError as exc:
            self.metrics.errors.labels(*self.labels, "baseline").inc()
            log.error(
                "cannot reload the baseline; the previous one is still used",
                extra={"endpoint": self.endpoint.label, "error": str(exc)},
            )

    def due_hours(self, now: float) -> list[int]:
        """Hours whose report is due (their end plus the delay has passed), oldest first."""
        if not self.endpoint.output:
            return []
        delay = 60 * self.settings.delay_of(self.endpoint)
        last_due = step_start(now - delay, HOUR_SECONDS) - HOUR_SECONDS
        due = list(range(self.reported_before, last_due + 1, HOUR_SECONDS))
        if due:
            self.reported_before = last_due + HOUR_SECONDS
        return due
