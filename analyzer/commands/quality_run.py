"""`infertap-analyzer quality-run`: join a window's captured predictions to late ground truth and
check SageMaker's model-quality metrics against a baseline (analyzer.pipeline.quality).

Exit codes: 0 Completed, 1 CompletedWithViolations, 2 Failed or bad usage.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.commands.flags import (
    add_capture_flags,
    add_window_flags,
    apply_env,
    configure_logging,
    number,
    parse_log_level,
    parse_utc_time,
    print_outcome,
    require,
    whole_number,
)
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.job import QualityJob
from analyzer.pipeline.quality import run_quality
from analyzer.reporting.failed_execution import write_failed_execution
from analyzer.results.problem import PROBLEM_TYPES
from analyzer.results.status import FAILED

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}
# Labels of a year past the window are read hour folder by hour folder (8,784 listings); a longer
# window, of labels or of captures, is a typo (past 2.7 million years not even a datetime).
MAX_LABEL_WINDOW = timedelta(days=366)
_EPILOG = """\
exit status:
  0  Completed: no violations
  1  CompletedWithViolations: see constraint_violations.json
  2  Failed (nothing joined, unreadable baseline, a bad flag, ...); the reason is printed and
     written to execution.json (for a bad flag too, once --output is given)

A capture's eventMetadata.inferenceId (else its eventId) joins the label whose eventId equals it.
Labels are read from the hour folders {ground-truth}/YYYY/MM/DD/HH/ of [start, end + label window).
--inference-attribute / --probability-attribute: a CSV column index (0), a JSON path
(predictions[0].score, outputs[0].data[0]) or a key of the JSON output.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `quality-run`; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "quality-run",
        help="model quality of a window of captures, joined to ground truth",
        description=(
            "Join the captured predictions of [--start, --end) to the ground-truth labels, "
            "compute SageMaker's model-quality metrics, check the baseline constraints and write "
            "statistics.json, constraint_violations.json, execution.json and report.html (the "
            "metrics against their thresholds, confusion matrix and curves, self-contained) "
            "under --output."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add_capture_flags(add)
    add("--ground-truth", help="ground-truth root: s3://bucket/prefix or a folder")
    add("--baseline-constraints", help="model-quality constraints.json (path or s3://)")
    add(
        "--baseline-statistics",
        default=None,
        help="its statistics.json: the classes it saw, and the calibration CBPE corrects scores by",
    )
    add("--problem-type", help=", ".join(PROBLEM_TYPES))
    add("--inference-attribute", default=None, help="where the predicted label is")
    add("--probability-attribute", default=None, help="where the score is")
    add("--probability-threshold", default="0.5", help="score above it: class 1 (default 0.5)")
    add_window_flags(add)
    add("--label-window", default="24h", help="how long after --end labels are read (24h)")
    add("--output", help="folder or s3:// prefix for the reports")
    add("--read-concurrency", default="4", help="files read at once (default 4)")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")
    apply_env(parser)
    return parser


def parse_duration(text: str, option: str, maximum: timedelta = MAX_LABEL_WINDOW) -> timedelta:
    """`24h`, `90m`, `2d`, `3600s`; a bare number is hours; at most `maximum`."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{option} must be a duration such as 24h, 90m or 2d, got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > maximum.total_seconds():
        raise ConfigError(
            f"{option} must be at most {maximum.days}d ({maximum.days * 24}h), got {text.strip()}"
        )
    return timedelta(seconds=seconds)


def job_from_args(args: argparse.Namespace) -> QualityJob:
    """Validate the parsed flags into a QualityJob; ConfigError names the flag."""
    require(
        args,
        "captures",
        "ground_truth",
        "endpoint_name",
        "baseline_constraints",
        "problem_type",
        "start",
        "end",
        "output",
    )
    end = parse_utc_time(args.end, "--end")
    label_window = parse_duration(args.label_window, "--label-window")
    if end > datetime.max.replace(tzinfo=UTC) - label_window:
        raise ConfigError(f"--end {args.end} plus --label-window {args.label_window} is past 9999")
    start = parse_utc_time(args.start, "--start")
    if end - start > MAX_LABEL_WINDOW:  # every hour folder of both windows is listed
        raise ConfigError(
            f"--start to --end must span at most {MAX_LABEL_WINDOW.days}d, got {end - start}"
        )
    return QualityJob(
        captures=args.captures,
        ground_truth=args.ground_truth,
        endpoint_name=args.endpoint_name,
        variant_name=args.variant_name,
        baseline_constraints=args.baseline_constraints,
        baseline_statistics=args.baseline_statistics or None,
        problem_type=args.problem_type,
        inference_attribute=args.inference_attribute or None,
        probability_attribute=args.probability_attribute or None,
        probability_threshold=number(
            args.probability_threshold, "--probability-threshold", 0.0, 1.0
        ),
        start=start,
        end=end,
        label_window=label_window,
        output=args.output,
        read_concurrency=whole_number(args.read_concurrency, "--read-concurrency", 1),
    )


def run(args: argparse.Namespace) -> int:
    """Execute `quality-run`; print the outcome; return 0, 1 or 2."""
    try:
        configure_logging(parse_log_level(getattr(args, "log_level", "info")))
        job = job_from_args(args)
    except AnalyzerError as exc:
        url = write_failed_execution(args.output, "ModelQuality", str(exc), vars(args))
        recorded = f" (recorded in {url})" if url else ""
        print(f"infertap-analyzer quality-run: error: {exc}{recorded}", file=sys.stderr)
        return 2
    result = run_quality(job)
    finished = result.status != FAILED
    print_outcome(result.message, result.warnings, result.output_files, finished)
    return result.exit_code
