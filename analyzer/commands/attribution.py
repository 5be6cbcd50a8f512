"""`infertap-analyzer attribution-baseline` and `attribution-run`: Kernel SHAP of the model at
--model-url on a dataset / on a seeded sample of a window's captured inputs, and the nDCG of the
window's feature ranking against the baseline's (SageMaker's feature attribution drift monitor).

Exit codes: 0 Completed, 1 CompletedWithViolations (nDCG below 0.9), 2 Failed or bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from analyzer.clarify.attribution_run import AttributionJob, run_attribution
from analyzer.commands.flags import (
    add_capture_flags,
    add_window_flags,
    apply_env,
    configure_logging,
    parse_flag,
    parse_log_level,
    parse_utc_time,
    print_outcome,
    require,
    seconds,
    whole_number,
)
from analyzer.errors import AnalyzerError
from analyzer.results.status import FAILED

_EPILOG = """\
The model is called directly (never through a capturing sidecar): predictor.content_type text/csv
posts CSV rows, one a line, and reads one score a line; application/json answers are read at
predictor.probability (a JSON path such as predictions[*].score). The number of model calls is
printed before the first one; --max-model-calls caps it (fewer rows are explained).
"""


def _common(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--analysis-config", help="Clarify's analysis_config.json with methods.shap (path or s3://)"
    )
    add("--model-url", help="the model's URL, e.g. http://127.0.0.1:8080/invocations")
    add("--output", help="folder or s3:// prefix for the reports")
    add("--max-records", default="100", help="rows explained, a seeded sample (default 100)")
    add("--max-model-calls", default=None, help="cap on HTTP calls to the model")
    add("--batch-rows", default="1000", help="rows per model call (default 1000)")
    add("--model-concurrency", default="4", help="model calls at once (default 4)")
    add("--model-timeout", default="30", help="seconds per model call (default 30)")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")


def add_parsers(subparsers: Any) -> list[argparse.ArgumentParser]:
    """Register both commands; every flag also reads INFERTAP_<FLAG>."""
    baseline: argparse.ArgumentParser = subparsers.add_parser(
        "attribution-baseline",
        help="global SHAP values of a dataset (the attribution monitor's baseline)",
        description="Kernel SHAP of the model on a dataset; writes analysis.json under --output.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    baseline.add_argument("--dataset", help="CSV, JSON Lines or Parquet dataset (path or s3://)")
    baseline.add_argument("--header", nargs="?", const=True, default=False, help="CSV header line")
    _common(baseline)
    monitor: argparse.ArgumentParser = subparsers.add_parser(
        "attribution-run",
        help="feature attribution drift of a window of captures",
        description=(
            "Kernel SHAP of the model on a seeded sample of the captured inputs of [--start, "
            "--end); writes analysis.json, constraint_violations.json and execution.json."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = monitor.add_argument
    add_capture_flags(add)
    add("--baseline-constraints", help="the baseline's analysis.json")
    add_window_flags(add)
    _common(monitor)
    for parser in (baseline, monitor):
        apply_env(parser)
    return [baseline, monitor]


def job_from_args(args: argparse.Namespace) -> AttributionJob:
    require(args, "analysis_config", "model_url", "output")
    monitoring = args.command == "attribution-run"
    if monitoring:
        require(args, "captures", "endpoint_name", "baseline_constraints", "start", "end")
    else:
        require(args, "dataset")
    cap = args.max_model_calls
    return AttributionJob(
        analysis_config=args.analysis_config,
        model_url=args.model_url,
        output=args.output,
        dataset=None if monitoring else args.dataset,
        header=False if monitoring else parse_flag(args.header, "--header", empty=True),
        captures=args.captures if monitoring else None,
        endpoint_name=args.endpoint_name if monitoring else "",
        variant_name=args.variant_name if monitoring else "AllTraffic",
        baseline_constraints=args.baseline_constraints if monitoring else None,
        start=parse_utc_time(args.start, "--start") if monitoring else None,
        end=parse_utc_time(args.end, "--end") if monitoring else None,
        max_records=whole_number(args.max_records, "--max-records", 1),
        max_model_calls=None if cap in (None, "") else whole_number(cap, "--max-model-calls", 1),
        batch_rows=whole_number(args.batch_rows, "--batch-rows", 1),
        concurrency=whole_number(args.model_concurrency, "--model-concurrency", 1),
        model_timeout=seconds(args.model_timeout, "--model-timeout"),
    )


def run(args: argparse.Namespace) -> int:
    try:
        configure_logging(parse_log_level(getattr(args, "log_level", "info")))
        job = job_from_args(args)
    except AnalyzerError as exc:
        print(f"infertap-analyzer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    result = run_attribution(job)
    if result.status != FAILED and "ndcg" in result.details:
        for label, score in result.details["ndcg"].items():
            print(f"nDCG of {label}'s feature ranking against the baseline: {score:.4f}")
    print_outcome(result.describe(), result.warnings, result.output_files, result.status != FAILED)
    return result.exit_code
