"""`infertap-analyzer baseline`: a training dataset -> statistics.json and constraints.json
(constraints suggested by `analyzer.suggesting.data_quality`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analyzer.commands.flags import (
    apply_env,
    configure_logging,
    parse_flag,
    parse_utc_time,
    require,
)
from analyzer.engines.choice import profile_dataset
from analyzer.engines.local import ProgressReporter
from analyzer.engines.spark.flags import add_engine_flags, engine_from_args
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.pipeline.capture_baseline import profile_capture_window
from analyzer.reading import storage
from analyzer.reading.datasets import FORMATS
from analyzer.reporting import baseline_files
from analyzer.reporting.baseline_files import Constraints, Statistics
from analyzer.suggesting.data_quality import suggest_constraints

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"

log = logging.getLogger("infertap.analyzer.commands.baseline")


@dataclass(frozen=True, slots=True)
class BaselineResult:
    statistics: Statistics
    constraints: Constraints
    statistics_url: str
    constraints_url: str


def create_baseline(
    dataset: str,
    output: str,
    *,
    fmt: str | None = None,
    header: bool = True,
    columns: Sequence[str] | None = None,
    engine: str = "local",
    spark_master: str | None = None,
) -> BaselineResult:
    """Profile `dataset` and write statistics.json and constraints.json under `output`."""
    reporter = ProgressReporter(
        lambda rows, elapsed: log.info(
            "profiling", extra={"rows": rows, "rows_per_second": round(rows / elapsed)}
        )
    )
    profile = profile_dataset(
        engine, spark_master, dataset, fmt=fmt, header=header, columns=columns, progress=reporter
    )
    return write_baseline(profile.to_statistics(), output)


def write_baseline(statistics: Statistics, output: str) -> BaselineResult:
    """Suggest constraints from `statistics` and write both files under `output`."""
    constraints = suggest_constraints(statistics)
    statistics_url = storage.join(output, STATISTICS_FILE)
    constraints_url = storage.join(output, CONSTRAINTS_FILE)
    baseline_files.dump_statistics(statistics, statistics_url)
    baseline_files.dump_constraints(constraints, constraints_url)
    return BaselineResult(statistics, constraints, statistics_url, constraints_url)


def create_capture_baseline(
    captures: str,
    endpoint: str,
    variant: str,
    start: datetime,
    end: datetime,
    output: str,
    *,
    columns: Sequence[str] | None = None,
    model: str | None = None,
) -> BaselineResult:
    """Profile a reference window of captured traffic and write the baseline files."""
    statistics = profile_capture_window(
        captures, endpoint, variant, start, end, columns=columns, model=model
    )
    return write_baseline(statistics, output)


def _add_capture_window_options(parser: argparse.ArgumentParser) -> None:
    window = parser.add_argument_group(
        "a reference window of captured traffic (instead of --dataset)"
    )
    window.add_argument("--captures", default=None, help="capture prefix: s3://, file:/// or path")
    window.add_argument("--endpoint-name", default=None, help="endpoint (first folder)")
    window.add_argument("--variant-name", default="AllTraffic", help="variant (second folder)")
    window.add_argument("--start", default=None, help="window start, e.g. 2026-11-25T08:00:00Z")
    window.add_argument("--end", default=None, help="window end (exclusive)")
    window.add_argument(
        "--model", default=None, help="OpenAI-compatible traffic: only this model's records"
    )


def _baseline_from_captures(args: argparse.Namespace, columns: list[str] | None) -> BaselineResult:
    if args.dataset:
        raise ConfigError("give --dataset or --captures, not both")
    require(args, "endpoint_name", "start", "end", when="with --captures")
    return create_capture_baseline(
        args.captures,
        args.endpoint_name,
        args.variant_name,
        parse_utc_time(args.start, "--start"),
        parse_utc_time(args.end, "--end"),
        args.output,
        columns=columns,
        model=args.model or None,
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `baseline` subcommand; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "baseline",
        help="profile a training dataset into statistics.json and constraints.json",
        description=(
            "Profile a dataset (CSV, JSON Lines or Parquet; a local path or s3://) the way "
            "SageMaker Model Monitor's baseline job does, and write statistics.json and "
            "constraints.json under --output. Every flag can also be set as INFERTAP_<FLAG>, "
            "e.g. INFERTAP_DATASET=s3://bucket/train.csv."
        ),
    )
    _add_dataset_flags(parser.add_argument_group("the dataset"))
    parser.add_argument("--output", default=None, help="folder or s3:// prefix for the files")
    _add_capture_window_options(parser)
    add_engine_flags(parser)
    apply_env(parser)
    return parser


def _add_dataset_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--dataset", default=None, help="path, file:/// or s3:// URL of the data")
    group.add_argument(
        "--header",
        dest="header",
        action="store_true",
        default=None,
        help="the CSV's first row names the columns (the default)",
    )
    group.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="the CSV has no header row: columns are named _c0, _c1, ... or by --columns",
    )
    group.add_argument(
        "--format",
        default=None,
        choices=FORMATS,
        help="dataset format; by default from the file extension",
    )
    group.add_argument(
        "--columns",
        "--feature-names",
        dest="columns",
        default=None,
        help="comma-separated column names for a CSV (replacing the header's, if any)",
    )


def _header_flag(value: object) -> bool:
    """--header / --no-header, or INFERTAP_HEADER as text; a header by default."""
    return True if value is None else parse_flag(value, "INFERTAP_HEADER")


def run(args: argparse.Namespace) -> int:
    """Execute `baseline`; 0 on success, 2 with a one-line message on stderr otherwise."""
    configure_logging("info")
    try:
        if not args.output:
            raise ConfigError("--output is required (or set INFERTAP_OUTPUT)")
        columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
        if columns is not None and not all(columns):
            raise ConfigError(f"--columns has an empty name: {args.columns!r}")
        if getattr(args, "captures", None):
            result = _baseline_from_captures(args, columns)
        else:
            result = _baseline_from_dataset(args, columns)
    except AnalyzerError as exc:
        print(f"infertap-analyzer baseline: error: {exc}", file=sys.stderr)
        return 2
    return _report(result)


def _baseline_from_dataset(args: argparse.Namespace, columns: list[str] | None) -> BaselineResult:
    if not args.dataset:
        raise ConfigError(
            "--dataset is required (or --captures for a window of captured traffic; "
            "or set INFERTAP_DATASET)"
        )
    if args.format is not None and args.format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {args.format!r}")
    engine, spark_master = engine_from_args(args)
    return create_baseline(
        args.dataset,
        args.output,
        fmt=args.format,
        header=_header_flag(args.header),
        columns=columns,
        engine=engine,
        spark_master=spark_master,
    )


def _report(result: BaselineResult) -> int:
    stats = result.statistics
    print(
        f"wrote {result.statistics_url} and {result.constraints_url} "
        f"({stats.item_count} rows, {len(stats.features)} features)"
    )
    return 0
