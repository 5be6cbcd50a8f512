"""`infertap-analyzer bias-run`: Clarify's bias metrics of a window of captures (facets from the
captured input, predictions from the captured output, labels joined as quality-run joins them),
checked against a baseline analysis.json.

Exit codes: 0 Completed, 1 CompletedWithViolations, 2 Failed or bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from analyzer.clarify.bias_run import run_bias
from analyzer.clarify.record import BiasJob
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
from analyzer.commands.quality_run import parse_duration
from analyzer.errors import AnalyzerError
from analyzer.results.status import FAILED

_EPILOG = """\
exit status:
  0  Completed: no violations
  1  CompletedWithViolations: a metric is farther from neutral than the baseline's
  2  Failed (no captures, a facet absent from the inputs, ...) or bad usage

CSV inputs are the config's headers less label and predicted_label; JSON inputs match by name.
Without --ground-truth only the metrics that need no label are measured (CI, DPPL, DI, CDDPL).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `bias-run`; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bias-run",
        help="bias drift of a window of captures against a bias baseline",
        description=(
            "Compute SageMaker Clarify's bias metrics of the captures of [--start, --end) and "
            "write analysis.json, constraint_violations.json and execution.json under --output."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add_capture_flags(add)
    add("--ground-truth", default=None, help="ground-truth root: s3://bucket/prefix or a folder")
    add("--analysis-config", help="Clarify's analysis_config.json (path or s3://)")
    add("--baseline-constraints", help="the baseline's analysis.json (bias-baseline's output)")
    add("--inference-attribute", default=None, help="where the predicted label is")
    add("--probability-attribute", default=None, help="where the score is")
    add("--probability-threshold", default=None, help="score above it: positive (config's, 0.5)")
    add_window_flags(add)
    add("--label-window", default="24h", help="how long after --end labels are read (24h)")
    add("--output", help="folder or s3:// prefix for the reports")
    add("--read-concurrency", default="4", help="files read at once (default 4)")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")
    apply_env(parser)
    return parser


def job_from_args(args: argparse.Namespace) -> BiasJob:
    require(
        args,
        "captures",
        "endpoint_name",
        "analysis_config",
        "baseline_constraints",
        "start",
        "end",
        "output",
    )
    threshold = args.probability_threshold
    return BiasJob(
        captures=args.captures,
        ground_truth=args.ground_truth or None,
        endpoint_name=args.endpoint_name,
        variant_name=args.variant_name,
        analysis_config=args.analysis_config,
        baseline_constraints=args.baseline_constraints,
        inference_attribute=args.inference_attribute or None,
        probability_attribute=args.probability_attribute or None,
        probability_threshold=None
        if threshold in (None, "")
        else number(threshold, "--probability-threshold", 0.0, 1.0),
        start=parse_utc_time(args.start, "--start"),
        end=parse_utc_time(args.end, "--end"),
        label_window=parse_duration(args.label_window, "--label-window"),
        output=args.output,
        read_concurrency=whole_number(args.read_concurrency, "--read-concurrency", 1),
    )


def run(args: argparse.Namespace) -> int:
    try:
        configure_logging(parse_log_level(getattr(args, "log_level", "info")))
        job = job_from_args(args)
    except AnalyzerError as exc:
        print(f"infertap-analyzer bias-run: error: {exc}", file=sys.stderr)
        return 2
    result = run_bias(job)
    print_outcome(result.describe(), result.warnings, result.output_files, result.status != FAILED)
    return result.exit_code
