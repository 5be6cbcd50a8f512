"""The hourly loop behind `schedule`: which endpoint-hours to run, running them, recording results.

Runs happen in worker threads (one endpoint's hours in order, `concurrency` endpoints at once), so
the loop and the `/metrics` server stay responsive. An hour whose report folder already holds a
successful execution record is skipped, so a restart does not redo finished work. A Stopped hour
(past its max_runtime) is run again an hour later, and on the next start; a Failed one on the
next start. On shutdown, runs still going after the grace are stopped and record Stopped.
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

from analyzer.errors import AnalyzerError
from analyzer.pipeline.monitoring import run_monitoring
from analyzer.pipeline.stopping import StopToken
from analyzer.reading import storage
from analyzer.reporting.baseline_files import Statistics, load_statistics
from analyzer.reporting.execution import EXECUTION_FILE, STATISTICS_FILE, ExecutionResult
from analyzer.results.status import FAILED, FINISHED, STOPPED
from analyzer.scheduling.clarify_loop import run_clarify_hour
from analyzer.scheduling.config import EndpointConfig
from analyzer.scheduling.jobs import build_job, report_url
from analyzer.scheduling.metrics import AnalyzerMetrics
from analyzer.scheduling.planning import due_hours, first_hour, next_due_time
from analyzer.scheduling.quality_loop import run_quality_hour
from sidecar.common.layout import HOUR

log = logging.getLogger("infertap.analyzer.commands.schedule")
Clock = Callable[[], datetime]
_MAX_SLEEP = 60.0  # re-read the clock at least this often (it may jump)
_STOP_WAIT = 10.0  # after the grace: how long stopped runs get to write their records
RETRY_STOPPED_AFTER = HOUR  # a Stopped hour is run again with the next hour's run


def utc_now() -> datetime:
    return datetime.now(UTC)


def finished_record(endpoint: EndpointConfig, hour: datetime) -> ExecutionResult | None:
    """The hour's execution record if its run Completed (with or without violations), else None."""
    url = storage.join(report_url(endpoint, hour), EXECUTION_FILE)
    try:
        record = json.loads(storage.read_bytes(url))
    except (AnalyzerError, ValueError):
        return None  # No readable record: the hour has not been analysed.
    if not isinstance(record, dict):
        return None
    result = ExecutionResult.from_json(record)
    return result if result.status in FINISHED else None


@dataclass
class _State:
    """One endpoint's place in time: hours before `since` or in `attempted` are not run again."""

    endpoint: EndpointConfig
    delay: timedelta
    since: datetime
    attempted: set[datetime] = field(default_factory=set)
    retries: dict[datetime, datetime] = field(default_factory=dict)  # Stopped hour -> retry time
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
        self._running: set[StopToken] = set()  # the runs in flight, to stop them on shutdown

    def loop(self, stop: threading.Event, once: bool = False, grace: float = 25.0) -> None:
        """Run due hours until `stop` is set (or, with `once`, until nothing is due).

        After `stop`, in-flight runs get `grace` seconds to finish; then they are stopped and
        record Stopped, so their hours run again after a restart.
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
        if not self._wait_idle(grace):
            log.warning(
                "stopping the monitoring runs still going after the shutdown grace",
                extra={"grace_seconds": grace},
            )
            with self._lock:
                for token in self._running:
                    token.request("the scheduler is shutting down (SIGTERM)")
            self._wait_idle(_STOP_WAIT)

    def wake(self) -> None:
        self._wake.set()

    def _wait_idle(self, seconds: float) -> bool:
        """Wait up to `seconds` for the runs in flight to end; True when none is left."""
        deadline = time.monotonic() + seconds
        while self._any_busy() and time.monotonic() < deadline:
            self._wake.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            self._wake.clear()
        return not self._any_busy()

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
                retries = sorted(h for h, when in state.retries.items() if when <= now)
                label = (state.endpoint.name, state.endpoint.variant)
                self.metrics.set_pending(*label, len(hours) + len(retries))
                if (hours or retries) and not state.busy:
                    for hour in retries:
                        del state.retries[hour]
                    state.busy = True
                    self._work.put((state, sorted({*hours, *retries})))

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
        newest_done: tuple[datetime, ExecutionResult] | None = None
        for hour in hours:
            if stop.is_set():
                break
            result, skipped = self.run_hour(state.endpoint, hour)
            if skipped:
                newest_done = (hour, result)
            else:
                state.shown = hour if state.shown is None else max(state.shown, hour)
            with self._lock:
                if result.status == STOPPED and not stop.is_set():
                    state.retries[hour] = self.clock() + RETRY_STOPPED_AFTER
                state.mark(hour)
        # After a restart, the metrics show the newest finished hour until the next run.
        if newest_done is not None and (state.shown is None or newest_done[0] > state.shown):
            hour, result = newest_done
            statistics = _load_statistics(state.endpoint, hour)
            self.metrics.restore(result, statistics, state.endpoint.name, state.endpoint.variant)
            state.shown = hour

    def run_hour(self, endpoint: EndpointConfig, hour: datetime) -> tuple[ExecutionResult, bool]:
        """Analyse one hour and record metrics and a log line, unless its record says it is done.

        Returns the run's result, or the hour's earlier record and True when it was skipped.
        """
        fields = {"endpoint": endpoint.name, "variant": endpoint.variant, "hour": f"{hour:%FT%HZ}"}
        done = finished_record(endpoint, hour)
        if done is not None:
            log.info("hour already analysed; skipping", extra={**fields, "status": done.status})
            return done, True
        result = self._run(endpoint, hour, fields)
        self.metrics.update_from(result, endpoint.name, endpoint.variant)
        self._run_quality(endpoint, hour)
        self._run_clarify(endpoint, hour)
        with self._lock:
            self.statuses[str(result.status)] += 1  # plain keys: JSON logs need str
        level = logging.INFO if result.status in FINISHED else logging.WARNING
        log.log(
            level,
            "scheduled run finished",
            extra={
                **fields,
                "status": result.status,
                "failure_reason": result.failure_reason,
                "stop_reason": result.stop_reason,
                "records_analyzed": result.records_analyzed,
                "violations": result.violation_count,
                "duration_seconds": round(result.duration_seconds, 3),
                "output": report_url(endpoint, hour),
            },
        )
        return result, False

    def _run(
        self, endpoint: EndpointConfig, hour: datetime, fields: dict[str, str]
    ) -> ExecutionResult:
        """One monitoring run, stoppable on shutdown; an exception becomes a Failed result."""
        started = time.monotonic()
        try:
            job = build_job(endpoint, hour)
            token = StopToken(job.max_runtime)
        except Exception as exc:  # A bad option must not stop other runs.
            return _failed(endpoint, hour, exc, time.monotonic() - started)
        with self._lock:
            self._running.add(token)
        try:
            return run_monitoring(job, token)
        except Exception as exc:  # A bug or an unexpected failure must not stop other runs.
            log.exception("monitoring run raised", extra=fields)
            return _failed(endpoint, hour, exc, time.monotonic() - started)
        finally:
            with self._lock:
                self._running.discard(token)

    def _run_quality(self, endpoint: EndpointConfig, hour: datetime) -> None:
        """Model quality of the hour `label_delay` earlier, when the endpoint configures it."""
        try:
            run_quality_hour(endpoint, hour, self.metrics.quality)
        except Exception:  # like drift runs: one failure must not stop the loop
            log.exception("model-quality run raised", extra={"endpoint": endpoint.name})

    def _run_clarify(self, endpoint: EndpointConfig, hour: datetime) -> None:
        """Bias and feature attribution, when the endpoint configures them."""
        try:
            run_clarify_hour(endpoint, hour, self.metrics.clarify)
        except Exception:  # like drift runs: one failure must not stop the loop
            log.exception("bias or attribution run raised", extra={"endpoint": endpoint.name})


def _failed(
    endpoint: EndpointConfig, hour: datetime, exc: Exception, seconds: float
) -> ExecutionResult:
    reason = f"{type(exc).__name__}: {exc}"
    return ExecutionResult(
        status=FAILED,
        message=f"{FAILED}: {reason}",
        failure_reason=reason,
        endpoint_name=endpoint.name,
        variant_name=endpoint.variant,
        start=hour,
        end=hour + HOUR,
        duration_seconds=seconds,
    )


def _load_statistics(endpoint: EndpointConfig, hour: datetime) -> Statistics | None:
    try:
        return load_statistics(storage.join(report_url(endpoint, hour), STATISTICS_FILE))
    except AnalyzerError:
        return None  # The gauges of that run's features stay absent; the next run sets them.
