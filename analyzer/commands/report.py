"""`infertap-analyzer report`: one HTML page of a model's history over its hourly runs, or one
run's report.html drawn again from the files it left."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from analyzer.commands.flags import (
    apply_env,
    configure_logging,
    parse_log_level,
    parse_utc_time,
    require,
)
from analyzer.errors import AnalyzerError
from analyzer.reporting.html.history_page import HISTORY_FILE, write_history
from analyzer.reporting.html.run_page import write_run_report
from analyzer.reporting.html.sources import read_run

EXIT_OK = 0
EXIT_FAILED = 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `report` subcommand; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="draw the history of a model's hourly runs as one HTML page (or redraw one run's)",
        description=(
            "Read the runs under --reports in the scheduler's layout "
            "({reports}/{endpoint}/{variant}/YYYY/MM/DD/HH/, local or s3://) and write "
            f"{HISTORY_FILE} under --output: status per hour, per-feature drift over time with "
            "the threshold, model-quality metrics over time, and a link to each hour's "
            "report.html. With --run, draw one run's report.html again from the files it left "
            "(execution.json, statistics.json, constraint_violations.json and the baseline they "
            "name), as the run drew it. Every flag can also be set as INFERTAP_<FLAG>."
        ),
    )
    add = parser.add_argument
    add("--reports", help="the scheduler's output: a folder or s3://bucket/prefix")
    add("--endpoint-name", help="endpoint name (first folder below --reports)")
    add(
        "--variant-name",
        default="AllTraffic",
        help="variant or schedule folder (default AllTraffic)",
    )
    add("--output", help="folder or s3:// prefix to write history.html to")
    add("--since", default=None, help="first hour to include, ISO 8601 UTC (default: all)")
    add("--until", default=None, help="hour to stop before, ISO 8601 UTC (default: all)")
    add("--run", metavar="FOLDER", help="one run's folder or s3:// prefix: redraw its report.html")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")
    apply_env(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the page; print where it is and what it found. 0 when written, 2 otherwise."""
    try:
        configure_logging(parse_log_level(getattr(args, "log_level", "info")))
        if getattr(args, "run", None):
            return _redraw(args.run)
        require(args, "reports", "endpoint_name", "output")
        since = parse_utc_time(args.since, "--since") if args.since else None
        until = parse_utc_time(args.until, "--until") if args.until else None
        url, page = write_history(
            args.reports, args.endpoint_name, args.variant_name, args.output, since, until
        )
    except AnalyzerError as exc:
        print(f"infertap-analyzer report: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{len(page.rows)} runs, {len(page.missing_hours)} hours without a run, "
        f"{len(page.drifted)} features over the drift threshold"
    )
    for problem in page.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"report: {url}")
    return EXIT_OK


def _redraw(folder: str) -> int:
    """report.html of one run from its files: the same page model the run drew from memory."""
    report = read_run(folder)
    page = write_run_report(report)
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if page.problem is not None:
        print(f"infertap-analyzer report: error: {page.warning}", file=sys.stderr)
        return EXIT_FAILED
    print(f"report: {page.url}")
    return EXIT_OK
