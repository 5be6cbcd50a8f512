"""The hourly loop behind `schedule`: which endpoint-hours to run, running them, recording results.

Runs happen in worker threads (one endpoint's hours in order, `concurrency` endpoints at once), so
the loop and the `/metrics` server stay responsive. An hour whose report folder already holds a
successful execution record is skipped, so a restart does not redo finished work.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.reporting.execution import (
    COMPLETED,
    COMPLETED_WITH_VIOLATIONS,
    EXECUTION_FILE,
    FAILED,
    STATISTICS_FILE,
    ExecutionResult,
    MonitoringJob,
    run_monitoring,
)
from analyzer.reporting.schema import Statistics, load_statistics
from analyzer.scheduling.config import EndpointConfig
from analyzer.scheduling.metrics import AnalyzerMetrics
from analyzer.scheduling.planning import due_hours, first_hour, next_due_time
from analyzer.scheduling.quality_loop import run_quality_hour
from sidecar.common.layout import HOUR, partition_key

log = logging.getLogger("infertap.analyzer.commands.schedule")
Clock = Callable[[], datetime]
_MAX_SLEEP = 60.0  # re-read the clock at least this often (it may jump)


def utc_now() -> datetime:
    return datetime.now(UTC)


def report_url(endpoint: EndpointConfig, hour: datetime) -> str:
    """`{output}/{endpoint}/{variant}/YYYY/MM/DD/HH`, SageMaker's report layout."""
    return storage.join(endpoint.output, partition_key(endpoint.name, endpoint.variant, hour))


def build_job(endpoint: EndpointConfig, hour: datetime) -> MonitoringJob:
    return MonitoringJob(
        captures=endpoint.captures,
        endpoint_name=endpoint.name,
        variant_name=endpoint.variant,
        baseline_statistics=endpoint.baseline_statistics,
        baseline_constraints=endpoint.baseline_constraints,
        start=hour,
        end=hour + HOUR,
        output=report_url(endpoint, hour),
        **endpoint.options,
    )


def finished_record(endpoint: EndpointConfig, hour: datetime) -> dict[str, Any] | None:
    """The hour's execution record if its run finished without failure, else None."""
    url = storage.join(report_url(endpoint, hour), EXECUTION_FILE)
    try:
        record = json.loads(storage.read_bytes(url))
    except (AnalyzerError, ValueError):
        return None  # No readable record: the hour has not been analysed.
    if not isinstance(record, dict) or record.get("status") not in (
        COMPLETED,
        COMPLETED_WITH_VIOLATIONS,
    ):
        return None
    return record


@dataclass
class _State:
    """One endpoint's place in time: hours before `since` or in `attempted` are not run again."""

    endpoint: EndpointConfig
    delay: timedelta
    since: datetime
    attempted: set[datetime] = field(default_factory=set)
    busy: bool = False
    shown: datetime | None = None  # the newest hour whose outcome the metrics show

    def mark(self, hour: datetime) -> None:
        self.attempted.add(hour)
        # Advance past the contiguous attempted hours so the set stays small over months.
        while self.since in self.attempted:
            self.attempted.discard(self.since)
            self.since += HOUR


class Scheduler:
    """Runs due hours of every endpoint; see `loop`."""

    def __init__(
        self,
        endpoints: Sequence[EndpointConfig],
        *,
        default_delay: timedelta,
        catch_up_hours: int,
        metrics: AnalyzerMetrics,
        clock: Clock = utc_now,
        concurrency: int = 1,
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.statuses: collections.Counter[str] = collections.Counter()  # runs by status
        now = clock()
        self._states: list[_State] = []
        for endpoint in endpoints:
            delay = (
                timedelta(minutes=endpoint.delay_minutes)
                if endpoint.delay_minutes is not None
                else default_delay
            )
            self._states.append(_State(endpoint, delay, first_hour(now, delay, catch_up_hours)))
            metrics.register_endpoint(endpoint.name, endpoint.variant)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._work: queue.Queue[tuple[_State, list[datetime]]] = queue.Queue()

    def loop(self, stop: threading.Event, once: bool = False, grace: float = 25.0) -> None:
        """Run due hours until `stop` is set (or, with `once`, until nothing is due).

        After `stop`, in-flight runs get `grace` seconds to finish; a run cut short leaves no
        execution record, so its hour is run again after a restart.
        """
        for index in range(self.concurrency):
            threading.Thread(
                target=self._worker, args=(stop,), name=f"monitor-{index}", daemon=True
            ).start()
        while not stop.is_set():
            now = self.clock()
            self._dispatch(now)
            if once and not self._any_busy():
                break
            sleep = 1.0 if once else self._seconds_until_next_due(now)
            self._wake.wait(sleep)
            self._wake.clear()
        deadline = time.monotonic() + grace
        while self._any_busy() and time.monotonic() < deadline:
            self._wake.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            self._wake.clear()
        if self._any_busy():
            log.warning(
                "stopping with monitoring runs in flight; their hours run again on next start",
                extra={"grace_seconds": grace},
            )

    def wake(self) -> None:
        self._wake.set()

    def _any_busy(self) -> bool:
        with self._lock:
            return any(state.busy for state in self._states)

    def _seconds_until_next_due(self, now: datetime) -> float:
        upcoming = min(next_due_time(now, state.delay) for state in self._states)
        return min(_MAX_SLEEP, max(0.05, (upcoming - now).total_seconds()))

    def _dispatch(self, now: datetime) -> None:
        with self._lock:
            for state in self._states:
                hours = due_hours(now, state.delay, state.since, state.attempted)
                label = (state.endpoint.name, state.endpoint.variant)
                self.metrics.set_pending(*label, len(hours))
                if hours and not state.busy:
                    state.busy = True
                    self._work.put((state, hours))

    def _worker(self, stop: threading.Event) -> None:
        while True:
            try:
                state, hours = self._work.get(timeout=0.2)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            try:
                self._run_hours(state, hours, stop)
            finally:
                with self._lock:
                    state.busy = False
                self._wake.set()

    def _run_hours(self, state: _State, hours: list[datetime], stop: threading.Event) -> None:
        """Run an endpoint's due hours in order; show the newest outcome in the metrics."""
        newest_done: tuple[datetime, dict[str, Any]] | None = None
        for hour in hours:
            if stop.is_set():
                break
            record = self.run_hour(state.endpoint, hour)
            if record is not None:
                newest_done = (hour, record)
            else:
                state.shown = hour if state.shown is None else max(state.shown, hour)
            with self._lock:
                state.mark(hour)
        # After a restart, the metrics show the newest finished hour until the next run.
        if newest_done is not None and (state.shown is None or newest_done[0] > state.shown):
            hour, record = newest_done
            statistics = _load_statistics(state.endpoint, hour)
            self.metrics.restore_from_record(
                record, statistics, state.endpoint.name, state.endpoint.variant
            )
            state.shown = hour

    def run_hour(self, endpoint: EndpointConfig, hour: datetime) -> dict[str, Any] | None:
        """Analyse one hour and record metrics and a log line, unless its record says it is done.

        Returns that execution record when the hour was skipped, else None.
        """
        fields = {"endpoint": endpoint.name, "variant": endpoint.variant, "hour": f"{hour:%FT%HZ}"}
        done = finished_record(endpoint, hour)
        if done is not None:
            log.info("hour already analysed; skipping", extra={**fields, "status": done["status"]})
            return done
        started = time.monotonic()
        try:
            result = run_monitoring(build_job(endpoint, hour))
        except Exception as exc:  # A bug or an unexpected failure must not stop other runs.
            log.exception("monitoring run raised", extra=fields)
            result = ExecutionResult(
                status=FAILED,
                message=f"{FAILED}: {type(exc).__name__}: {exc}",
                failure_reason=f"{type(exc).__name__}: {exc}",
                endpoint_name=endpoint.name,
                variant_name=endpoint.variant,
                start=hour,
                end=hour + HOUR,
                duration_seconds=time.monotonic() - started,
            )
        self.metrics.update_from(result, endpoint.name, endpoint.variant)
        self._run_quality(endpoint, hour)
        with self._lock:
            self.statuses[result.status] += 1
        level = logging.WARNING if result.status == FAILED else logging.INFO
        log.log(
            level,
            "scheduled run finished",
            extra={
                **fields,
                "status": result.status,
                "failure_reason": result.failure_reason,
                "records_analyzed": result.records_analyzed,
                "violations": len(result.violations),
                "duration_seconds": round(result.duration_seconds, 3),
                "output": report_url(endpoint, hour),
            },
        )
        return None

    def _run_quality(self, endpoint: EndpointConfig, hour: datetime) -> None:
        """Model quality of the hour `label_delay` earlier, when the endpoint configures it."""
        try:
            run_quality_hour(endpoint, hour, self.metrics.quality)
        except Exception:  # like drift runs: one failure must not stop the loop
            log.exception("model-quality run raised", extra={"endpoint": endpoint.name})


def _load_statistics(endpoint: EndpointConfig, hour: datetime) -> Statistics | None:
    try:
        return load_statistics(storage.join(report_url(endpoint, hour), STATISTICS_FILE))
    except AnalyzerError:
        return None  # The gauges of that run's features stay absent; the next run sets them.
