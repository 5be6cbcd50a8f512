"""One monitoring run (`infertap-analyzer run`): read a window of captures, profile, check, write.

Public API: MonitoringJob, ExecutionResult, RunCounts, run_monitoring(job). Change to
ANALYZER.md: the command line (`add_parser`, `run`) lives in analyzer.commands.run. Beyond
ANALYZER.md, ExecutionResult carries `counts` (what was read and what was wrong with it),
`feature_drift` (feature -> the distance baseline_drift_check compared with its threshold) and
`feature_p_value` (String features tested with ChiSquared; see analyzer.checking.checks).

Capture files are chosen by hour folder: the folders of the hours that start in [start, end),
with every sidecar replica's files in them; see `analyzer.decoding.ingest.TimeWindow` for records
whose inferenceTime lies outside the window. A run never raises for bad data, missing files or an
unreadable baseline: it ends Failed with a reason a user can act on, and bad records are
counted in the execution record.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from analyzer.checking.checks import Violation, evaluate
from analyzer.counts import RunCounts
from analyzer.decoding.ingest import TimeWindow
from analyzer.decoding.payloads import MONITOR_SIDES, DecodeOptions
from analyzer.engines.local import Profiled, profile_files
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.reading import storage
from analyzer.reading.captures import CaptureListing, list_window
from analyzer.reporting import run_files, schema
from analyzer.reporting.schema import NUMERIC_TYPES, Constraints, Statistics

__all__ = [
    "COMPLETED",
    "COMPLETED_WITH_VIOLATIONS",
    "EXECUTION_FILE",
    "EXIT_COMPLETED",
    "EXIT_FAILED",
    "EXIT_VIOLATIONS",
    "FAILED",
    "STATISTICS_FILE",
    "VIOLATIONS_FILE",
    "ExecutionResult",
    "MonitoringJob",
    "RunCounts",
    "RunFailed",
    "run_monitoring",
]

log = logging.getLogger("infertap.analyzer.run")

COMPLETED = "Completed"
COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
FAILED = "Failed"

EXIT_COMPLETED = 0
EXIT_VIOLATIONS = 1
EXIT_FAILED = 2

STATISTICS_FILE = run_files.STATISTICS_FILE
VIOLATIONS_FILE = run_files.VIOLATIONS_FILE
EXECUTION_FILE = run_files.EXECUTION_FILE


@dataclass(slots=True)
class MonitoringJob:
    """Everything one run needs. `start`/`end` are timezone-aware; hours in [start, end) are read.

    `monitor`: which side of each exchange becomes features ("both", "input" or "output").
    `output_columns`: how many leading baseline columns hold model outputs (CSV by position:
    outputs first, then inputs, as SageMaker lines them up); None detects it from the records.
    `record_hook`: "module:function" or "module.function" decoding payloads the built-in
    decoders cannot (analyzer.decoding.payloads). `workers`: processes profiling files in parallel.
    """

    captures: str
    endpoint_name: str
    variant_name: str
    baseline_statistics: str
    baseline_constraints: str
    start: datetime
    end: datetime
    output: str
    monitor: str = "both"
    output_columns: int | None = None
    record_hook: str | None = None
    workers: int = 1
    model: str | None = None  # OpenAI-compatible traffic: this model's records only
    read_concurrency: int = 16


@dataclass(slots=True)
class ExecutionResult:
    """The outcome of one run, also written as execution.json."""

    status: str  # Completed | CompletedWithViolations | Failed
    message: str
    failure_reason: str | None = None
    records_analyzed: int = 0
    statistics: Statistics | None = None
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)
    counts: RunCounts = field(default_factory=RunCounts)
    feature_drift: dict[str, float] = field(default_factory=dict)  # feature -> distance
    feature_p_value: dict[str, float] = field(default_factory=dict)  # feature -> ChiSquared p
    endpoint_name: str = ""
    variant_name: str = ""
    start: datetime | None = None
    end: datetime | None = None
    duration_seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return {COMPLETED: EXIT_COMPLETED, COMPLETED_WITH_VIOLATIONS: EXIT_VIOLATIONS}.get(
            self.status, EXIT_FAILED
        )


class RunFailed(AnalyzerError):
    """Ends a run with status Failed and this message as its failure reason."""


def run_monitoring(job: MonitoringJob) -> ExecutionResult:
    """Run one monitoring job; bad data, missing files and bad baselines end it Failed."""
    started = time.monotonic()
    result = ExecutionResult(
        status=FAILED,
        message="",
        endpoint_name=job.endpoint_name,
        variant_name=job.variant_name,
        start=job.start,
        end=job.end,
    )
    try:
        _analyse(job, result)
    except AnalyzerError as exc:
        result.status = FAILED
        result.failure_reason = str(exc)
    except Exception as exc:  # a bug must still end the run with a record, not a traceback
        log.exception("monitoring run failed unexpectedly")
        result.status = FAILED
        result.failure_reason = f"internal error: {type(exc).__name__}: {exc}"
    result.message = _message(result)
    result.duration_seconds = time.monotonic() - started
    try:
        run_files.write_reports(result, job)
    except AnalyzerError as exc:
        result.status = FAILED
        result.failure_reason = f"cannot write the reports under {job.output}: {exc}"
        result.message = _message(result)
    log.info(
        "monitoring run finished",
        extra={
            "endpoint": job.endpoint_name,
            "variant": job.variant_name,
            "status": result.status,
            "records": result.records_analyzed,
            "violations": len(result.violations),
        },
    )
    return result


def _message(result: ExecutionResult) -> str:
    if result.status == FAILED:
        return f"{FAILED}: {result.failure_reason}"
    if result.violations:
        return (
            f"{COMPLETED_WITH_VIOLATIONS}: Job completed successfully with "
            f"{len(result.violations)} violations."
        )
    return f"{COMPLETED}: Job completed successfully with no violations."


def _analyse(job: MonitoringJob, result: ExecutionResult) -> None:
    _validate(job)
    baseline, constraints = _load_baseline(job)
    columns = tuple(f.name for f in constraints.features) or tuple(baseline.feature_names)
    options = DecodeOptions(
        columns=columns,
        monitor=job.monitor,
        output_columns=job.output_columns,
        record_hook=job.record_hook,
        model=job.model,
    )
    profiled = _profile_window(job, options, result)
    profile, counts = profiled.profile, result.counts
    statistics = _ordered(profile.to_statistics(), columns)
    counts.non_numeric_values = sum(
        profile.feature(c.name).string
        for c in constraints.features
        if c.inferred_type in NUMERIC_TYPES and c.name in profile.columns
    )
    expected = _expected_columns(columns, job.monitor, profiled.output_width or 0)
    evaluation = evaluate(baseline, constraints, statistics, profile, expected)
    result.statistics = statistics
    result.violations = evaluation.violations
    result.feature_drift = evaluation.feature_drift
    result.feature_p_value = evaluation.feature_p_value
    result.records_analyzed = counts.records - counts.skipped_records
    result.warnings.extend(counts.warnings())
    result.status = COMPLETED_WITH_VIOLATIONS if result.violations else COMPLETED


def _profile_window(
    job: MonitoringJob, options: DecodeOptions, result: ExecutionResult
) -> Profiled:
    """Profile the window's capture files into `result.counts`; RunFailed if there are no rows."""
    listing = _list(job)
    counts = result.counts
    window = run_files.window_text(job.start, job.end)
    where = storage.join(job.captures, job.endpoint_name, job.variant_name) + "/"
    if not listing.prefixes:
        raise RunFailed(
            f"the window {window} holds no hour start; capture folders are hourly, "
            "so use whole hours such as 08:00-09:00"
        )
    if not listing.files:
        raise RunFailed(f"no capture files under {where} for {window}")
    profiled = profile_files(
        listing.files,
        options,
        job.workers,
        job.read_concurrency,
        TimeWindow.of(job.start, job.end),
    )
    counts.add(profiled.counts)
    counts.files = len(listing.files)
    counts.ignored_files = len(listing.ignored)
    result.warnings.extend(
        f"unreadable capture file {problem}" for problem in profiled.unreadable[:20]
    )
    if counts.rows == 0:
        result.warnings.extend(counts.warnings())
        raise RunFailed(
            f"no feature rows in {counts.files} capture files under {where} for {window} "
            f"({counts.records} records, {counts.malformed_lines} malformed lines, "
            f"{counts.decode_errors} decode errors, {counts.error_responses} error responses, "
            f"{counts.unreadable_files} unreadable files)"
        )
    return profiled


def _validate(job: MonitoringJob) -> None:
    if job.start.tzinfo is None or job.end.tzinfo is None:
        raise ConfigError("--start and --end need a time zone, e.g. 2026-11-25T08:00:00Z")
    if job.end <= job.start:
        raise ConfigError(
            f"--end ({run_files.iso(job.end)}) must be after --start ({run_files.iso(job.start)})"
        )
    if job.monitor not in MONITOR_SIDES:
        raise ConfigError(
            f"--monitor must be one of {', '.join(MONITOR_SIDES)}, got {job.monitor!r}"
        )
    if job.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {job.workers}")
    if job.read_concurrency < 1:
        raise ConfigError(f"--read-concurrency must be at least 1, got {job.read_concurrency}")


def _load_baseline(job: MonitoringJob) -> tuple[Statistics, Constraints]:
    baseline = schema.load_statistics(job.baseline_statistics)
    constraints = schema.load_constraints(job.baseline_constraints)
    if not constraints.features and not baseline.features:
        raise RunFailed(
            f"the baseline names no features ({job.baseline_constraints}); "
            "create it with `infertap-analyzer baseline`"
        )
    return baseline, constraints


def _list(job: MonitoringJob) -> CaptureListing:
    return list_window(
        job.captures,
        job.endpoint_name,
        job.variant_name,
        job.start,
        job.end,
        job.read_concurrency,
    )


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
