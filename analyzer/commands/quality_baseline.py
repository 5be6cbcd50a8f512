"""`infertap-analyzer quality-baseline`: a labelled validation set -> model-quality statistics.json
and constraints.json (SageMaker's Model Quality Monitor baseline).

Exit codes: 0 written, 2 bad usage or an unreadable dataset (the reason is printed).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

import numpy as np

from analyzer.checking.quality import reference
from analyzer.checking.quality.attributes import Attribute
from analyzer.checking.quality.predictions import InvalidProbability, Predictor
from analyzer.checking.quality.statistics import quality_statistics, scalar_values
from analyzer.commands.flags import apply_env, configure_logging, number, parse_flag, require
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.reading.labelled_rows import iter_rows
from analyzer.reporting import quality_files
from analyzer.results.problem import BINARY, PROBLEM_TYPES, LabelValueError
from analyzer.suggesting.model_quality import suggest_constraints


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `quality-baseline`; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "quality-baseline",
        help="model-quality baseline from a labelled validation set",
        description=(
            "Compute SageMaker's model-quality metrics of a dataset holding the ground truth, "
            "the predicted label and/or the score, and suggest constraints (each metric's "
            "baseline value as its threshold)."
        ),
    )
    add = parser.add_argument
    add("--dataset", help="validation data: CSV, JSON Lines or Parquet (path or s3://)")
    add("--header", dest="header", default="true", action="store_const", const="true")
    add("--no-header", dest="header", action="store_const", const="false")
    add("--format", default=None, help="csv, jsonl or parquet (default: from the file name)")
    add("--problem-type", help=", ".join(PROBLEM_TYPES))
    add("--ground-truth-attribute", help="the column holding the true label")
    add("--inference-attribute", default=None, help="the column holding the predicted label")
    add("--probability-attribute", default=None, help="the column holding the score")
    add("--probability-threshold", default="0.5", help="score above it: class 1 (default 0.5)")
    add("--output", help="folder or s3:// prefix for statistics.json and constraints.json")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")
    apply_env(parser)
    return parser


def _column(name: str | None) -> Attribute | None:
    return Attribute(name, None, (name,)) if name else None


def predictor_from_args(args: argparse.Namespace) -> Predictor:
    require(args, "dataset", "problem_type", "ground_truth_attribute", "output")
    if args.problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, got {args.problem_type!r}"
        )
    return Predictor(
        args.problem_type,
        _column(args.inference_attribute),
        _column(args.probability_attribute),
        number(args.probability_threshold, "--probability-threshold", 0.0, 1.0),
    )


def baseline_rows(
    args: argparse.Namespace, predictor: Predictor
) -> tuple[list[tuple[float, float, float]], Counter[str]]:
    """(label, prediction, score) of every usable row, and why the others were skipped."""
    rows, skipped = [], Counter[str]()
    header = parse_flag(args.header, "--header")
    for row in iter_rows(args.dataset, args.format, header):
        label = row.get(args.ground_truth_attribute)
        predicted = row.get(args.inference_attribute) if args.inference_attribute else None
        score = row.get(args.probability_attribute) if args.probability_attribute else None
        if label in (None, "") or (predicted in (None, "") and score in (None, "")):
            skipped["rows lack the label or the prediction"] += 1
            continue
        try:
            truth = predictor.label(label)
            prediction, value = predictor.predict_value(predicted or None, score or None)
        except InvalidProbability:
            skipped["scores are outside [0, 1] or NaN"] += 1
            continue
        except LabelValueError:
            skipped[f"rows do not fit {args.problem_type}"] += 1
            continue
        rows.append((truth, prediction, value))
    return rows, skipped


def run(args: argparse.Namespace) -> int:
    """Execute `quality-baseline`; print what was written; 0 or 2."""
    notes: list[str] = []
    try:
        configure_logging(str(args.log_level))
        predictor = predictor_from_args(args)
        rows, skipped = baseline_rows(args, predictor)
        if not rows:
            raise AnalyzerError(f"{args.dataset} holds no usable rows ({dict(skipped)})")
        table = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        statistics = quality_statistics(
            args.problem_type, table[:, 0], table[:, 1], table[:, 2], predictor.classes.names
        )
        suggested = suggest_constraints(scalar_values(statistics))
        if args.problem_type == BINARY and (
            cbpe := reference.build(table[:, 0], table[:, 1], table[:, 2])
        ):
            statistics[reference.REFERENCE_KEY] = cbpe
            notes = reference.baseline_warnings(cbpe)
        written: list[str] = []
        for name, data in (
            (quality_files.STATISTICS_FILE, quality_files.document_bytes(statistics)),
            (
                quality_files.CONSTRAINTS_FILE,
                quality_files.constraints_bytes(args.problem_type, suggested),
            ),
        ):
            quality_files.write(args.output, name, data, written)
    except AnalyzerError as exc:
        print(f"infertap-analyzer quality-baseline: error: {exc}", file=sys.stderr)
        return 2
    for reason, count in skipped.items():
        print(f"warning: {count} {reason} (skipped)")
    for note in notes:
        print(f"warning: {note}")
    print(f"model-quality baseline of {len(rows)} rows: {', '.join(written)}")
    return 0
