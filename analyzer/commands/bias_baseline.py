"""`infertap-analyzer bias-baseline`: Clarify's bias metrics of a labelled dataset, written as
analysis.json (the constraints of `bias-run`, as in SageMaker's bias drift monitor)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from analyzer.clarify import config
from analyzer.clarify.bias_baseline import bias_baseline
from analyzer.commands.flags import apply_env, parse_flag, require
from analyzer.errors import AnalyzerError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `bias-baseline`; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bias-baseline",
        help="Clarify bias metrics of a labelled dataset (the bias monitor's baseline)",
        description=(
            "Compute SageMaker Clarify's pre- and post-training bias metrics of a dataset as the "
            "analysis config asks, and write analysis.json under --output."
        ),
    )
    add = parser.add_argument
    add("--dataset", help="CSV, JSON Lines or Parquet dataset (path or s3://)")
    add("--header", nargs="?", const=True, default=False, help="the CSV's first line names columns")
    add("--analysis-config", help="Clarify's analysis_config.json (path or s3://)")
    add("--output", help="folder or s3:// prefix for analysis.json")
    add("--model-url", default=None, help="without a predicted_label column: ask this model")
    apply_env(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        require(args, "dataset", "analysis_config", "output")
        cfg = config.load(args.analysis_config)
        analysis, written = bias_baseline(
            args.dataset,
            cfg,
            args.output,
            parse_flag(args.header, "--header", empty=True),
            args.model_url or None,
        )
    except AnalyzerError as exc:
        print(f"infertap-analyzer bias-baseline: error: {exc}", file=sys.stderr)
        return 2
    stages = [key for key in analysis if key != "version"]
    print(f"bias baseline of {args.dataset}: {', '.join(stages)}")
    print(f"reports: {', '.join(written)}")
    return 0
