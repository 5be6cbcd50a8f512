"""One monitoring run (`infertap-analyzer run`): read a window of captures, profile, check, write.

Public API: MonitoringJob, ExecutionResult, RunCounts, run_monitoring(job), add_parser, run(args).
Beyond ANALYZER.md, ExecutionResult carries `counts` (what was read and what was wrong with it)
and `feature_drift` (feature -> the distance the drift check used, for the metrics).
A run never raises for bad data, missing files or an unreadable baseline: it ends Failed with a
reason a user can act on, and bad records are counted in the execution record.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from analyzer import report, schema, storage
from analyzer.checks import Violation, evaluate
from analyzer.decode import MONITOR_SIDES, DecodeOptions
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.ingest import IngestCounts
from analyzer.schema import NUMERIC_TYPES, Constraints, Statistics
from analyzer.sources import CaptureListing, list_window
from analyzer.workers import profile_files

log = logging.getLogger("infertap.analyzer.run")

COMPLETED = "Completed"
COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
FAILED = "Failed"

EXIT_COMPLETED = 0
EXIT_VIOLATIONS = 1
EXIT_FAILED = 2

STATISTICS_FILE = report.STATISTICS_FILE
VIOLATIONS_FILE = report.VIOLATIONS_FILE
EXECUTION_FILE = report.EXECUTION_FILE
ENV_PREFIX = "INFERTAP_"


@dataclass(slots=True)
class MonitoringJob:
    """Everything one run needs. `start`/`end` are timezone-aware; hours in [start, end) are read.

    `monitor`: which side of each exchange becomes features ("both", "input" or "output").
    `output_columns`: how many leading baseline columns hold model outputs (CSV by position:
    outputs first, then inputs, as SageMaker lines them up); None detects it from the records.
    `record_hook`: "module:function" or "module.function" decoding payloads the built-in
    decoders cannot (see analyzer.decode). `workers`: processes that profile files in parallel.
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
    read_concurrency: int = 16


@dataclass(slots=True)
class RunCounts:
    """What was read and what was wrong with it (every bad input is counted, never fatal)."""

    files: int = 0
    files_read: int = 0
    unreadable_files: int = 0
    ignored_files: int = 0  # files in the hour folders whose names are not capture files
    bytes: int = 0
    records: int = 0  # capture records parsed
    rows: int = 0  # feature rows profiled (one record may hold several instances)
    malformed_lines: int = 0  # lines that are not capture records
    truncated_files: int = 0  # files whose last line was cut mid-way
    empty_records: int = 0  # records without rows: undecodable, or nothing on the chosen side
    error_responses: int = 0  # exchanges answered with HTTP >= 400 (skipped)
    truncated_records: int = 0  # records the sidecar marked truncated (skipped)
    decode_errors: int = 0  # payloads no decoder understood
    wrong_column_count: int = 0  # rows whose value count differs from the baseline's
    row_count_mismatch: int = 0  # records whose input and output hold different row counts
    non_numeric_values: int = 0  # non-numbers in columns the baseline says are numeric
    base64_payloads: int = 0  # BASE64 payloads whose content type names no readable format

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def absorb(self, ingest: IngestCounts) -> None:
        for name, value in ingest.to_json().items():
            if hasattr(self, name):
                setattr(self, name, getattr(self, name) + value)


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
        report.write_reports(result, job)
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
    )
    listing = _list(job)
    counts = result.counts
    counts.files = len(listing.files)
    counts.ignored_files = len(listing.ignored)
    window = report.window_text(job.start, job.end)
    where = storage.join(job.captures, job.endpoint_name, job.variant_name) + "/"
    if not listing.prefixes:
        raise RunFailed(
            f"the window {window} holds no hour start; capture folders are hourly, "
            "so use whole hours such as 08:00-09:00"
        )
    if not listing.files:
        raise RunFailed(f"no capture files under {where} for {window}")
    profiled = profile_files(listing.files, options, job.workers, job.read_concurrency)
    profile, width, unreadable = profiled.profile, profiled.output_width, profiled.unreadable
    counts.absorb(profiled.counts)
    counts.files_read = profiled.files_read
    counts.bytes = profiled.bytes_read
    counts.unreadable_files = len(unreadable)
    for problem in unreadable[:20]:
        result.warnings.append(f"unreadable capture file {problem}")
    if counts.rows == 0:
        result.warnings.extend(_warnings(counts))
        raise RunFailed(
            f"no feature rows in {counts.files} capture files under {where} for {window} "
            f"({counts.records} records, {counts.malformed_lines} malformed lines, "
            f"{counts.decode_errors} decode errors, {counts.error_responses} error responses, "
            f"{counts.unreadable_files} unreadable files)"
        )
    statistics = _ordered(profile.to_statistics(), columns)
    counts.non_numeric_values = sum(
        profile.feature(c.name).string
        for c in constraints.features
        if c.inferred_type in NUMERIC_TYPES and c.name in profile.columns
    )
    decoded = DecodeOptions(columns, job.monitor, width if width is not None else 0)
    expected = _expected_columns(decoded)
    evaluation = evaluate(baseline, constraints, statistics, profile, expected)
    result.statistics = statistics
    result.violations = evaluation.violations
    result.feature_drift = evaluation.feature_drift
    skipped = counts.error_responses + counts.truncated_records + counts.empty_records
    result.records_analyzed = counts.records - skipped
    result.warnings.extend(_warnings(counts))
    result.status = COMPLETED_WITH_VIOLATIONS if result.violations else COMPLETED


def _validate(job: MonitoringJob) -> None:
    if job.start.tzinfo is None or job.end.tzinfo is None:
        raise ConfigError("--start and --end need a time zone, e.g. 2026-11-25T08:00:00Z")
    if job.end <= job.start:
        raise ConfigError(
            f"--end ({report.iso(job.end)}) must be after --start ({report.iso(job.start)})"
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


def _expected_columns(options: DecodeOptions) -> list[str]:
    columns = list(options.columns)
    width = options.output_columns or 0
    if options.monitor == "input":
        return columns[width:]
    if options.monitor == "output":
        return columns[:width]
    return columns


def _warnings(counts: RunCounts) -> list[str]:
    notes = {
        "malformed_lines": "lines are not capture records (skipped)",
        "truncated_files": "files end in a line cut mid-way (that line skipped)",
        "unreadable_files": "capture files could not be read",
        "ignored_files": "files in the hour folders are not capture files (ignored)",
        "decode_errors": "payloads could not be decoded (skipped)",
        "wrong_column_count": "rows have a value count different from the baseline's columns",
        "row_count_mismatch": "records have different numbers of input and output rows",
        "non_numeric_values": "values are not numbers in columns the baseline says are numeric",
        "base64_payloads": "BASE64 payloads have a content type no decoder reads "
        "(use --record-hook)",
        "empty_records": "records have nothing to monitor on the chosen side",
        "error_responses": "records are of error responses (HTTP status >= 400; skipped)",
        "truncated_records": "records hold truncated bodies (skipped)",
    }
    found = counts.to_json()
    return [f"{found[key]} {text}" for key, text in notes.items() if found.get(key)]


# ----- command line ------------------------------------------------------------------------

_EPILOG = """\
exit status:
  0  Completed: no violations
  1  CompletedWithViolations: see constraint_violations.json
  2  Failed (no capture files, unreadable baseline, unwritable output, ...) or bad usage;
     the reason is printed and written to execution.json

CSV payloads are matched to the baseline's columns by position: the output column(s) first,
then the input columns (SageMaker's layout, so a baseline from a training file whose label is
the first column lines up). JSON payloads match by feature name; lists, {"instances": ...},
{"predictions": ...} and Open Inference Protocol {"inputs": [{name, shape, datatype, data}]}
become one row per instance. --monitor input|output leaves the other side's columns out of the
checks (use it when the sidecar captures one side only). --record-hook names a function
f(body: bytes, content_type: str, mode: "INPUT" | "OUTPUT") returning rows (lists of values
or dicts of feature -> value), or None to let the built-in decoders try.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `run` subcommand; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="analyse a window of captured traffic against a baseline",
        description=(
            "Read the capture files whose hour folders fall in [--start, --end), profile them, "
            "evaluate the baseline constraints and write statistics.json, "
            "constraint_violations.json and execution.json under --output. Every flag can also "
            "be set as INFERTAP_<FLAG>, e.g. INFERTAP_CAPTURES=s3://bucket/datacapture."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--captures", help="capture prefix: s3://bucket/prefix, file:///path or a folder")
    add("--endpoint-name", help="endpoint name (first folder below the capture prefix)")
    add("--variant-name", default="AllTraffic", help="variant name (default AllTraffic)")
    add("--baseline-statistics", help="statistics.json of the baseline (path or s3://)")
    add("--baseline-constraints", help="constraints.json of the baseline (path or s3://)")
    add("--start", help="window start, ISO 8601 UTC, e.g. 2026-11-25T08:00:00Z")
    add("--end", help="window end (exclusive), e.g. 2026-11-25T09:00:00Z")
    add("--output", help="folder or s3:// prefix for the reports")
    add("--monitor", default="both", choices=MONITOR_SIDES, help="sides to monitor (default both)")
    add(
        "--output-columns",
        default=None,
        help="how many leading baseline columns are model outputs (default: detected)",
    )
    add("--record-hook", default=None, help="package.module:function decoding other payloads")
    add("--workers", default="1", help="processes profiling files in parallel (default 1)")
    add("--read-concurrency", default="16", help="files read at once (default 16)")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")
    for action in parser._actions:
        name = ENV_PREFIX + action.dest.upper()
        if action.option_strings and action.dest != "help" and name in os.environ:
            action.default = os.environ[name]
    return parser


def parse_time(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option} must be an ISO 8601 time like 2026-11-25T08:00:00Z, got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _integer(value: Any, option: str, low: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option} must be a whole number, got {value!r}") from None
    if number < low:
        raise ConfigError(f"{option} must be at least {low}, got {number}")
    return number


def job_from_args(args: argparse.Namespace) -> MonitoringJob:
    """Validate the parsed flags into a MonitoringJob; ConfigError names the flag."""
    required = {
        "captures": "--captures",
        "endpoint_name": "--endpoint-name",
        "baseline_statistics": "--baseline-statistics",
        "baseline_constraints": "--baseline-constraints",
        "start": "--start",
        "end": "--end",
        "output": "--output",
    }
    for dest, flag in required.items():
        if not getattr(args, dest, None):
            raise ConfigError(f"{flag} is required (or set {ENV_PREFIX}{dest.upper()})")
    if args.monitor not in MONITOR_SIDES:
        raise ConfigError(
            f"--monitor must be one of {', '.join(MONITOR_SIDES)}, got {args.monitor!r}"
        )
    output_columns = args.output_columns
    return MonitoringJob(
        captures=args.captures,
        endpoint_name=args.endpoint_name,
        variant_name=args.variant_name,
        baseline_statistics=args.baseline_statistics,
        baseline_constraints=args.baseline_constraints,
        start=parse_time(args.start, "--start"),
        end=parse_time(args.end, "--end"),
        output=args.output,
        monitor=args.monitor,
        output_columns=None
        if output_columns in (None, "")
        else _integer(output_columns, "--output-columns", 0),
        record_hook=args.record_hook or None,
        workers=_integer(args.workers, "--workers", 1),
        read_concurrency=_integer(args.read_concurrency, "--read-concurrency", 1),
    )


def run(args: argparse.Namespace) -> int:
    """Execute `run`; print the outcome; return 0, 1 or 2 (see the epilog)."""
    from analyzer.schedule import configure_logging

    configure_logging(str(getattr(args, "log_level", "info")))
    try:
        job = job_from_args(args)
    except AnalyzerError as exc:
        print(f"infertap-analyzer run: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    result = run_monitoring(job)
    stream = sys.stderr if result.status == FAILED else sys.stdout
    print(result.message, file=stream)
    for warning in result.warnings:
        print(f"warning: {warning}", file=stream)
    if result.output_files:
        print(f"reports: {', '.join(result.output_files)}", file=stream)
    return result.exit_code
