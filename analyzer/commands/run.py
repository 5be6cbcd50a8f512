"""`infertap-analyzer run`: the command line of one monitoring run (analyzer.reporting.execution).

Exit codes: 0 Completed, 1 CompletedWithViolations, 2 Failed or bad usage (the epilog says so).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from analyzer.commands.flags import (
    apply_env,
    configure_logging,
    parse_log_level,
    parse_utc_time,
    whole_number,
)
from analyzer.decoding.payloads import MONITOR_SIDES
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.reporting.execution import EXIT_FAILED, FAILED, MonitoringJob, run_monitoring
from sidecar.common.options import env_name

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
    add("--model", default=None, help="OpenAI-compatible traffic: only this model's records")
    add("--workers", default="1", help="processes profiling files in parallel (default 1)")
    add("--read-concurrency", default="16", help="files read at once (default 16)")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")
    apply_env(parser)
    return parser


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
            raise ConfigError(f"{flag} is required (or set {env_name(dest)})")
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
        start=parse_utc_time(args.start, "--start"),
        end=parse_utc_time(args.end, "--end"),
        output=args.output,
        monitor=args.monitor,
        output_columns=None
        if output_columns in (None, "")
        else whole_number(output_columns, "--output-columns", 0),
        record_hook=args.record_hook or None,
        model=args.model or None,
        workers=whole_number(args.workers, "--workers", 1),
        read_concurrency=whole_number(args.read_concurrency, "--read-concurrency", 1),
    )


def run(args: argparse.Namespace) -> int:
    """Execute `run`; print the outcome; return 0, 1 or 2 (see the epilog)."""
    try:
        configure_logging(parse_log_level(getattr(args, "log_level", "info")))
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
