"""One monitoring run, start to end: list -> read and decode -> profile -> check -> report.

The only module that knows every stage. A run never raises for bad data, missing files or an
unreadable baseline: it ends Failed with a reason a user can act on, and bad records are counted
in the execution record. A run past its --max-runtime, or asked to stop (SIGTERM), ends Stopped.
Whatever happens, including a bug, the run leaves an execution.json unless its output is
unwritable.

Capture files are chosen by hour folder: the folders of the hours that start in [start, end),
with every sidecar replica's files in them; see `analyzer.reading.window.TimeWindow` for records
whose inferenceTime lies outside the window.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from analyzer.checking.checks import evaluate
from analyzer.decoding.payloads import MONITOR_SIDES, DecodeOptions
from analyzer.errors import AnalyzerError, ConfigError, RunFailed
from analyzer.job import MonitoringJob
from analyzer.pipeline.outcome import new_result, run_outcome
from analyzer.pipeline.stopping import StopToken
from analyzer.pipeline.window import profile_window
from analyzer.profiling.types import NUMERIC_TYPES
from analyzer.reporting import baseline_files, run_files
from analyzer.reporting.baseline_files import Constraints, Statistics
from analyzer.reporting.execution import ExecutionResult, iso
from analyzer.reporting.html.run_page import write_run_report
from analyzer.reporting.html.sources import RunReport
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED

__all__ = ["run_monitoring"]

log = logging.getLogger("infertap.analyzer.run")


def run_monitoring(job: MonitoringJob, stop: StopToken | None = None) -> ExecutionResult:
    """Run one monitoring job and write its reports; see the module docstring for the outcomes.

    `stop`: the run's deadline and stop requests; by default one of `job.max_runtime` seconds.
    """
    result = new_result(ExecutionResult, job)
    report = RunReport(job.output, result, baseline_url=job.baseline_statistics)
    with run_outcome(result, log, "monitoring run"):
        _validate(job)
        _analyse(job, report, stop or StopToken(job.max_runtime))
    _write(report, job)
    log.info(
        "monitoring run finished",
        extra={
            "endpoint": job.endpoint_name,
            "variant": job.variant_name,
            "status": result.status,
            "records": result.records_analyzed,
            "violations": result.violation_count,
        },
    )
    return result


def _write(report: RunReport, job: MonitoringJob) -> None:
    """Write the reports; if that fails, make the run Failed and still try execution.json."""
    result = report.result
    assert result is not None  # a run always holds its result
    result.finished_at = datetime.now(UTC)
    try:
        run_files.write_reports(result, job)
    except AnalyzerError as exc:
        _write_failure(result, job, f"cannot write the reports under {job.output}: {exc}")
    except Exception as exc:  # e.g. a value JSON cannot hold: still leave a record
        log.exception("writing the reports failed unexpectedly")
        reason = f"internal error writing the reports: {type(exc).__name__}: {exc}"
        _write_failure(result, job, reason)
    # The page is drawn from the result in memory; it never changes the run's outcome.
    if (page := write_run_report(report)) is not None:
        result.output_files.append(page)


def _write_failure(result: ExecutionResult, job: MonitoringJob, reason: str) -> None:
    result.end_early(FAILED, reason)
    result.message = result.describe()
    try:
        run_files.write_execution(result, job)
    except Exception:  # the output itself is unwritable: the caller has the result
        log.exception("cannot write execution.json", extra={"output": job.output})


def _analyse(job: MonitoringJob, report: RunReport, stop: StopToken) -> None:
    result = report.result
    assert result is not None  # a run always holds its result
    baseline, constraints = _load_baseline(job)
    report.baseline, report.constraints = baseline, constraints
    columns = tuple(f.name for f in constraints.features) or tuple(baseline.feature_names)
    result.baseline_features = list(columns)
    options = DecodeOptions(
        columns=columns,
        monitor=job.monitor,
        output_columns=job.output_columns,
        record_hook=job.record_hook,
        model=job.model,
    )
    profiled = profile_window(job, options, result, stop)
    profile, counts = profiled.profile, result.counts
    statistics = _ordered(profile.to_statistics(), columns)
    view = profile.view()
    counts.non_numeric_values = sum(
        feature.string
        for c in constraints.features
        if c.inferred_type in NUMERIC_TYPES and (feature := view.feature(c.name)) is not None
    )
    counts.non_finite_values = sum(f.non_finite for f in view.features.values())
    expected = _expected_columns(columns, job.monitor, profiled.output_width or 0)
    stop.check(f"with all {counts.files} capture files profiled, before the checks")
    evaluation = evaluate(baseline, constraints, statistics, view, expected)
    result.statistics = statistics
    result.set_violations(evaluation.violations)
    result.feature_drift = evaluation.feature_drift
    result.feature_p_value = evaluation.feature_p_value
    result.records_analyzed = counts.records - counts.skipped_records
    result.warnings.extend(counts.warnings())
    stop.check("with the checks done, before writing the reports")
    result.status = COMPLETED_WITH_VIOLATIONS if result.violations else COMPLETED


def _validate(job: MonitoringJob) -> None:
    if job.start.tzinfo is None or job.end.tzinfo is None:
        raise ConfigError("--start and --end need a time zone, e.g. 2026-11-25T08:00:00Z")
    if job.end <= job.start:
        raise ConfigError(f"--end ({iso(job.end)}) must be after --start ({iso(job.start)})")
    if job.monitor not in MONITOR_SIDES:
        raise ConfigError(
            f"--monitor must be one of {', '.join(MONITOR_SIDES)}, got {job.monitor!r}"
        )
    if job.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {job.workers}")
    if job.read_concurrency < 1:
        raise ConfigError(f"--read-concurrency must be at least 1, got {job.read_concurrency}")
    if not job.max_runtime > 0:
        raise ConfigError(
            f"--max-runtime must be a positive number of seconds, got {job.max_runtime}"
        )


def _load_baseline(job: MonitoringJob) -> tuple[Statistics, Constraints]:
    baseline = baseline_files.load_statistics(job.baseline_statistics)
    constraints = baseline_files.load_constraints(job.baseline_constraints)
    if not constraints.features and not baseline.features:
        raise RunFailed(
            f"the baseline names no features ({job.baseline_constraints}); "
            "create it with `infertap-analyzer baseline`"
        )
    return baseline, constraints


def _ordered(statistics: Statistics, columns: tuple[str, ...]) -> Statistics:
    """Features in the baseline's column order, new columns after them."""
    rank = {name: index for index, name in enumerate(columns)}
    statistics.features.sort(key=lambda f: rank.get(f.name, len(rank)))
    return statistics


def _expected_columns(columns: tuple[str, ...], monitor: str, output_width: int) -> list[str]:
    """The baseline columns the monitored side(s) fill: outputs first, then inputs."""
    if monitor == "input":
        return list(columns[output_width:])
    if monitor == "output":
        return list(columns[:output_width])
    return list(columns)
