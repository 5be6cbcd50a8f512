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
from dataclasses import dataclass
from datetime import UTC, datetime

from analyzer.checking.checks import Evaluation, evaluate
from analyzer.decoding.payloads import MONITOR_SIDES, DecodeOptions
from analyzer.engines.local import Profiled
from analyzer.errors import AnalyzerError, ConfigError, RunFailed
from analyzer.job import MonitoringJob
from analyzer.pipeline.outcome import new_result, run_outcome
from analyzer.pipeline.stopping import StopToken
from analyzer.pipeline.window import profile_window, require_rows
from analyzer.profiling.dataset import DatasetProfile
from analyzer.profiling.types import NUMERIC_TYPES
from analyzer.profiling.view import ProfileView
from analyzer.reporting import baseline_files, run_files
from analyzer.reporting.baseline_files import Constraints, Statistics
from analyzer.reporting.execution import ExecutionResult, iso
from analyzer.reporting.html.run_page import write_run_report
from analyzer.reporting.html.sources import RunReport
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED

__all__ = ["CheckedProfile", "check_profile", "decode_options", "load_baseline", "run_monitoring"]

log = logging.getLogger("infertap.analyzer.run")


def run_monitoring(
    job: MonitoringJob, stop: StopToken | None = None, profiled: Profiled | None = None
) -> ExecutionResult:
    """Run one monitoring job and write its reports; see the module docstring for the outcomes.

    `stop`: the run's deadline and stop requests; by default one of `job.max_runtime` seconds.
    `profiled`: the window's files already read and profiled (`watch` holds them): then nothing
    is listed or read again, and the rest of the run is the same.
    """
    result = new_result(ExecutionResult, job)
    report = RunReport(job.output, result, baseline_url=job.baseline_statistics)
    with run_outcome(result, log, "monitoring run"):
        _validate(job)
        _analyse(job, report, stop or StopToken(job.max_runtime), profiled)
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
    _write_page(report, job)


def _write_page(report: RunReport, job: MonitoringJob) -> None:
    """report.html, drawn from the result in memory, never changes the run's outcome; whether it
    was written is added to execution.json (the page, or a warning saying why not)."""
    result = report.result
    assert result is not None  # a run always holds its result
    page = write_run_report(report)
    if page.problem is None:
        result.output_files.append(page.url)
    else:
        result.warnings.append(page.warning)
    try:
        run_files.write_execution(result, job)
    except Exception:  # the same output took the other files a moment ago: log, keep the result
        log.exception("cannot add report.html to execution.json", extra={"output": job.output})


def _write_failure(result: ExecutionResult, job: MonitoringJob, reason: str) -> None:
    result.end_early(FAILED, reason)
    result.message = result.describe()
    try:
        run_files.write_execution(result, job)
    except Exception:  # the output itself is unwritable: the caller has the result
        log.exception("cannot write execution.json", extra={"output": job.output})


@dataclass(frozen=True, slots=True)
class CheckedProfile:
    """A profile turned into what the reports hold, and what the checks found in it."""

    statistics: Statistics
    view: ProfileView
    evaluation: Evaluation


def decode_options(
    job: MonitoringJob, baseline: Statistics, constraints: Constraints
) -> DecodeOptions:
    """How a job's records become rows: the baseline's columns, the job's decoding choices."""
    columns = tuple(f.name for f in constraints.features) or tuple(baseline.feature_names)
    return DecodeOptions(
        columns=columns,
        monitor=job.monitor,
        output_columns=job.output_columns,
        record_hook=job.record_hook,
        model=job.model,
    )


def check_profile(
    baseline: Statistics,
    constraints: Constraints,
    profile: DatasetProfile,
    options: DecodeOptions,
    output_width: int | None,
    sketches: bool = True,
) -> CheckedProfile:
    """The checks of DESIGN.md section 6 on a merged profile (one run's, or a live window's).

    `sketches`: whether the statistics keep numeric features' KLL buckets and sketch (a run
    writes them; the checks read the view's).
    """
    statistics = _ordered(profile.to_statistics(sketches), options.columns)
    view = profile.view()
    expected = _expected_columns(options.columns, options.monitor, output_width or 0)
    evaluation = evaluate(baseline, constraints, statistics, view, expected)
    return CheckedProfile(statistics, view, evaluation)


def _analyse(
    job: MonitoringJob, report: RunReport, stop: StopToken, profiled: Profiled | None
) -> None:
    result = report.result
    assert result is not None  # a run always holds its result
    baseline, constraints = load_baseline(job)
    report.baseline, report.constraints = baseline, constraints
    options = decode_options(job, baseline, constraints)
    result.baseline_features = list(options.columns)
    if profiled is None:
        profiled = profile_window(job, options, result, stop)
    else:
        result.counts.add(profiled.counts)
        require_rows(job, result)
    profile, counts = profiled.profile, result.counts
    view = profile.view()
    counts.non_numeric_values = sum(
        feature.string
        for c in constraints.features
        if c.inferred_type in NUMERIC_TYPES and (feature := view.feature(c.name)) is not None
    )
    counts.non_finite_values = sum(f.non_finite for f in view.features.values())
    stop.check(f"with all {counts.files} capture files profiled, before the checks")
    checked = check_profile(baseline, constraints, profile, options, profiled.output_width)
    evaluation = checked.evaluation
    result.statistics = checked.statistics
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


def load_baseline(job: MonitoringJob) -> tuple[Statistics, Constraints]:
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
