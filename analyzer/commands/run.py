"""`infertap-analyzer run`: the command line of one monitoring run (analyzer.pipeline).

Exit codes: 0 Completed, 1 CompletedWithViolations, 2 Failed or bad usage, 3 Stopped (past
--max-runtime, or SIGTERM/SIGINT); the epilog says so.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from analyzer.commands.flags import (
    add_capture_flags,
    add_window_flags,
    apply_env,
    configure_logging,
    parse_log_level,
    parse_utc_time,
    print_outcome,
    require,
    seconds,
    whole_number,
)
from analyzer.decoding.payloads import MONITOR_SIDES
from analyzer.engines.spark.flags import add_engine_flags, engine_from_args
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.job import DEFAULT_MAX_RUNTIME, MonitoringJob
from analyzer.pipeline.monitoring import run_monitoring
from analyzer.pipeline.stopping import StopToken
from analyzer.reporting.failed_execution import write_failed_execution
from analyzer.results.status import EXIT_FAILED, FINISHED

_EPILOG = """\
exit status:
  0  Completed: no violations
  1  CompletedWithViolations: see constraint_violations.json
  2  Failed (no capture files, unreadable baseline, unwritable output, a bad flag, ...);
     the reason is printed and written to execution.json (once --output is given)
  3  Stopped: the run passed --max-runtime or got SIGTERM/SIGINT; execution.json says
     why, and the window should be run again

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
            "constraint_violations.json, execution.json and report.html (a self-contained page "
            "to read) under --output. Every flag can also "
            "be set as INFERTAP_<FLAG>, e.g. INFERTAP_CAPTURES=s3://bucket/datacapture."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_location_flags(parser.add_argument_group("what to analyse"))
    _add_decoding_flags(parser.add_argument_group("how to read the captures"))
    _add_execution_flags(parser.add_argument_group("execution"))
    add_engine_flags(parser)
    apply_env(parser)
    return parser


def _add_location_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add_capture_flags(add)
    add("--baseline-statistics", help="statistics.json of the baseline (path or s3://)")
    add("--baseline-constraints", help="constraints.json of the baseline (path or s3://)")
    add_window_flags(add)
    add("--output", help="folder or s3:// prefix for the reports")


def _add_decoding_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--monitor", default="both", choices=MONITOR_SIDES, help="sides to monitor (default both)")
    add(
        "--output-columns",
        default=None,
        help="how many leading baseline columns are model outputs (default: detected)",
    )
    add("--record-hook", default=None, help="package.module:function decoding other payloads")
    add("--model", default=None, help="OpenAI-compatible traffic: only this model's records")


def _add_execution_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--workers", default="1", help="processes profiling files in parallel (default 1)")
    add("--read-concurrency", default="16", help="files read at once (default 16)")
    add(
        "--max-runtime",
        default=f"{DEFAULT_MAX_RUNTIME:g}",
        help="seconds after which the run stops with status Stopped, as SageMaker's "
        f"MaxRuntimeInSeconds (default {DEFAULT_MAX_RUNTIME:g})",
    )
    add("--log-level", default="info", help="debug, info, warning or error (default info)")


def job_from_args(args: argparse.Namespace) -> MonitoringJob:
    """Validate the parsed flags into a MonitoringJob; ConfigError names the flag."""
    require(
        args,
        "captures",
        "endpoint_name",
        "baseline_statistics",
        "baseline_constraints",
        "start",
        "end",
        "output",
    )
    if args.monitor not in MONITOR_SIDES:
        raise ConfigError(
            f"--monitor must be one of {', '.join(MONITOR_SIDES)}, got {args.monitor!r}"
        )
    output_columns = args.output_columns
    engine, spark_master = engine_from_args(args)
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
        max_runtime=seconds(args.max_runtime, "--max-runtime"),
        engine=engine,
        spark_master=spark_master,
    )


def run(args: argparse.Namespace) -> int:
    """Execute `run`; print the outcome; return 0, 1, 2 or 3 (see the epilog)."""
    try:
        configure_logging(parse_log_level(getattr(args, "log_level", "info")))
        job = job_from_args(args)
    except AnalyzerError as exc:
        url = write_failed_execution(args.output, "DataQuality", str(exc), vars(args))
        recorded = f" (recorded in {url})" if url else ""
        print(f"infertap-analyzer run: error: {exc}{recorded}", file=sys.stderr)
        return EXIT_FAILED
    stop = StopToken(job.max_runtime)
    with _stop_on_signals(stop):
        result = run_monitoring(job, stop)
    finished = result.status in FINISHED
    print_outcome(result.message, result.warnings, result.output_files, finished)
    return result.exit_code


@contextlib.contextmanager
def _stop_on_signals(stop: StopToken) -> Iterator[None]:
    """SIGTERM and SIGINT stop the run at its next check: it ends Stopped, with its record."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.request(f"{signal.Signals(signum).name} received")

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; its caller stops the run
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
