"""`infertap-analyzer ground-truth`: post labels as SageMaker ground-truth records.

Reads rows of `inference_id,label` (CSV with or without that header, or JSON Lines with those
keys) and writes one file under `{destination}/YYYY/MM/DD/HH/` (the hour of writing), streaming
the rows to it. A malformed row (a stray quote, a missing label, text that is not UTF-8) stops the
command with its line number, and nothing is written. From Python:
`analyzer.reading.ground_truth.write_labels(destination, pairs)`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from analyzer.commands.flags import apply_env, parse_utc_time
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.reading.ground_truth import ENCODINGS, write_labels
from analyzer.reading.label_input import label_pairs


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `ground-truth`; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ground-truth",
        help="write labels as SageMaker ground-truth records",
        description=(
            "Write inference_id,label rows (CSV or JSON Lines) as ground-truth records under "
            "--destination/YYYY/MM/DD/HH/, where quality-run reads them. Rows are streamed to "
            "one file; a malformed row (one a line: a stray quote, a missing label, bytes that "
            "are not UTF-8) stops the command naming its line, and nothing is written."
        ),
    )
    add = parser.add_argument
    add("--destination", help="ground-truth root: s3://bucket/prefix or a folder")
    add("--input", help="CSV (inference_id,label) or JSON Lines file of labels")
    add("--format", default=None, help="csv or jsonl (default: from the file name)")
    add("--encoding", default="CSV", choices=ENCODINGS, help="label encoding (default CSV)")
    add("--written-at", default=None, help="the hour folder's time (default: now, UTC)")
    apply_env(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Execute `ground-truth`; print where the labels went; 0 or 2."""
    try:
        if not args.destination or not args.input:
            raise ConfigError("--destination and --input are required")
        written_at = parse_utc_time(args.written_at, "--written-at") if args.written_at else None
        url, count = write_labels(
            args.destination, label_pairs(args.input, args.format), written_at, args.encoding
        )
    except AnalyzerError as exc:
        print(f"infertap-analyzer ground-truth: error: {exc}", file=sys.stderr)
        return 2
    print(f"{count} labels written to {url}")
    return 0
