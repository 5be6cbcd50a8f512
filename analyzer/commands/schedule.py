"""`infertap-analyzer schedule`: monitor configured endpoints every hour and serve `/metrics`.

Exit codes: 0 stopped by SIGTERM/SIGINT, or with --once every run Completed (or nothing was due);
1 with --once some run CompletedWithViolations and none Failed or Stopped; 2 a Failed run with
--once, or a bad option or configuration file (the message names it); 3 with --once some run
Stopped (past its max_runtime) and none Failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import textwrap
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from analyzer.commands.flags import (
    add_flag_groups,
    configure_logging,
    host_port,
    number,
    parse_flag,
    parse_log_level,
    parse_utc_time,
    seconds,
)
from analyzer.errors import ConfigError
from analyzer.job import DEFAULT_MAX_RUNTIME
from analyzer.results.status import (
    COMPLETED_WITH_VIOLATIONS,
    EXIT_FAILED,
    EXIT_STOPPED,
    EXIT_VIOLATIONS,
    FAILED,
    STOPPED,
)
from analyzer.scheduling.config import MAX_DELAY_MINUTES, MonitorConfig, load_config
from analyzer.scheduling.loop import Scheduler, utc_now
from analyzer.scheduling.metrics import AnalyzerMetrics
from analyzer.scheduling.metrics_server import MetricsServer
from analyzer.scheduling.planning import DEFAULT_CATCH_UP_HOURS, DEFAULT_DELAY

EXIT_OK = 0
log = logging.getLogger("infertap.analyzer.commands.schedule")


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    config: MonitorConfig
    metrics_host: str
    metrics_port: int
    delay: timedelta  # for endpoints without their own delay
    catch_up_hours: int
    once: bool
    now: datetime | None  # a fixed clock, --once only (backfills and tests)
    concurrency: int
    shutdown_grace: float
    log_level: str


_EPILOG = """\
configuration file (--config):
  defaults:                  # optional; any endpoint key except name
    captures: s3://bucket/datacapture
    output: s3://bucket/monitoring
    delay: 20                # minutes; --delay / INFERTAP_DELAY wins over this
  endpoints:
    - name: churn            # endpoint name, as in the capture folders
      variant: AllTraffic    # default AllTraffic
      baseline_statistics: s3://bucket/baseline/statistics.json
      baseline_constraints: s3://bucket/baseline/constraints.json
      # optional: captures, output, delay, and the `run` options monitor, output_columns,
      # record_hook, workers, read_concurrency, max_runtime (seconds; default 3600)

exit status:
  0  stopped by SIGTERM/SIGINT; with --once: every run Completed, or nothing was due
  1  with --once: some run CompletedWithViolations, none Failed or Stopped
  2  with --once: some run Failed; or a bad option or configuration file
  3  with --once: some run Stopped (past its max_runtime; run again later), none Failed

A run past its max_runtime ends Stopped, is shown as status="Stopped" in
infertap_execution_status and is run again an hour later (and on the next start).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `schedule` subcommand; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "schedule",
        help="run monitoring every hour for configured endpoints and serve /metrics",
        description=textwrap.fill(
            "Every hour, --delay minutes after it closes, analyse the hour for each endpoint "
            "in --config and write statistics.json, constraint_violations.json and "
            "execution.json under {output}/{endpoint}/{variant}/YYYY/MM/DD/HH/. An hour whose "
            "execution.json shows a finished run is skipped, so restarts do not redo work; "
            "Failed and Stopped hours are tried again on the next start. Every flag can also "
            "be set as INFERTAP_<FLAG>, e.g. INFERTAP_CATCH_UP_HOURS=48.",
            width=79,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = {
        "what to monitor and where to serve metrics": _add_config_flags,
        "when to run": _add_timing_flags,
        "execution": _add_execution_flags,
    }
    return add_flag_groups(parser, groups)


def _add_config_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--config", default=None, help="YAML file listing the endpoints (required)")
    add(
        "--metrics-listen",
        default="0.0.0.0:9091",
        help="HOST:PORT serving /metrics, /healthz and /readyz; not served with --once "
        "(default 0.0.0.0:9091)",
    )


def _add_timing_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add(
        "--delay",
        default=None,
        help="minutes after an hour closes before it is analysed, so late files have landed "
        "(default: the file's defaults.delay, else "
        f"{DEFAULT_DELAY.total_seconds() / 60:g}, like SageMaker's 0-20 minute start offset)",
    )
    add(
        "--catch-up-hours",
        default=str(DEFAULT_CATCH_UP_HOURS),
        help="how many already-due hours to look at on start, to run those missed while "
        f"stopped; 0 for none (default {DEFAULT_CATCH_UP_HOURS})",
    )
    add("--once", action="store_true", help="run what is due, then exit (for cron and CI)")
    add("--now", default=None, help="with --once: act as if the UTC time were this (backfills)")


def _add_execution_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--concurrency", default="1", help="endpoints analysed at the same time (default 1)")
    add(
        "--max-runtime",
        default=None,
        help="seconds after which a run stops with status Stopped (and is run again an hour "
        "later), for endpoints whose entry and defaults set no max_runtime "
        f"(default {DEFAULT_MAX_RUNTIME:g}, SageMaker's MaxRuntimeInSeconds)",
    )
    add(
        "--shutdown-grace",
        default="25",
        help="seconds in-flight runs get to finish after SIGTERM before they are stopped "
        "(default 25)",
    )
    add("--log-level", default="info", help="debug, info, warning or error (default info)")


def settings_from_args(args: argparse.Namespace) -> ScheduleSettings:
    """Validate parsed flags and load the configuration file; raise ConfigError naming the flag."""
    if not args.config:
        raise ConfigError("--config is required: the YAML file listing endpoints to monitor")
    once = parse_flag(args.once, "--once", empty=False)
    host, port = host_port(str(args.metrics_listen), "--metrics-listen")
    delay = (
        timedelta(minutes=number(args.delay, "--delay", 0, MAX_DELAY_MINUTES))
        if (args.delay is not None)
        else None
    )
    config = _with_max_runtime(load_config(args.config), args.max_runtime)
    if delay is None:
        delay = (
            timedelta(minutes=config.delay_minutes)
            if config.delay_minutes is not None
            else DEFAULT_DELAY
        )
    now = None
    if args.now:
        if not once:
            raise ConfigError(
                "--now only works with --once (a running scheduler follows the clock)"
            )
        now = parse_utc_time(str(args.now), "--now")
    return ScheduleSettings(
        config=config,
        metrics_host=host,
        metrics_port=port,
        delay=delay,
        catch_up_hours=int(
            number(args.catch_up_hours, "--catch-up-hours", 0, 24 * 366, integral=True)
        ),
        once=once,
        now=now,
        concurrency=int(number(args.concurrency, "--concurrency", 1, 64, integral=True)),
        shutdown_grace=number(args.shutdown_grace, "--shutdown-grace", 0, 3600),
        log_level=parse_log_level(args.log_level),
    )


def _with_max_runtime(config: MonitorConfig, flag: object) -> MonitorConfig:
    """--max-runtime for the endpoints whose entry (or the file's defaults) sets none."""
    if flag is None or flag == "":
        return config
    max_runtime = seconds(flag, "--max-runtime")
    endpoints = tuple(
        e
        if "max_runtime" in e.options
        else dataclasses.replace(e, options={**e.options, "max_runtime": max_runtime})
        for e in config.endpoints
    )
    return dataclasses.replace(config, endpoints=endpoints)


def run(args: argparse.Namespace) -> int:
    """Execute `schedule`; see the module docstring for exit codes."""
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"infertap-analyzer schedule: {exc}", file=sys.stderr)
        return EXIT_FAILED
    configure_logging(settings.log_level)
    metrics = AnalyzerMetrics()
    fixed = settings.now
    scheduler = Scheduler(
        settings.config.endpoints,
        default_delay=settings.delay,
        catch_up_hours=settings.catch_up_hours,
        metrics=metrics,
        clock=(lambda: fixed) if fixed is not None else utc_now,
        concurrency=settings.concurrency,
    )
    stop = threading.Event()
    _stop_on_signals(stop, scheduler)
    server = None
    if not settings.once:
        try:
            server = MetricsServer(metrics.registry, settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            print(
                f"infertap-analyzer schedule: --metrics-listen "
                f"{settings.metrics_host}:{settings.metrics_port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        server.start()
    log.info(
        "scheduler started",
        extra={
            "endpoints": [e.label for e in settings.config.endpoints],
            "delay_minutes": settings.delay.total_seconds() / 60,
            "catch_up_hours": settings.catch_up_hours,
            "once": settings.once,
            "metrics_port": server.port if server else None,
        },
    )
    try:
        scheduler.loop(stop, once=settings.once, grace=settings.shutdown_grace)
    finally:
        if server is not None:
            server.stop()
    log.info("scheduler stopped", extra={"runs": dict(scheduler.statuses)})
    return _exit_code(scheduler, settings.once)


def _stop_on_signals(stop: threading.Event, scheduler: Scheduler) -> None:
    """SIGTERM and SIGINT end the loop (in-flight runs get the shutdown grace)."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()
        scheduler.wake()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


def _exit_code(scheduler: Scheduler, once: bool) -> int:
    if not once:
        return EXIT_OK
    if scheduler.statuses[FAILED]:
        return EXIT_FAILED
    if scheduler.statuses[STOPPED]:
        return EXIT_STOPPED
    return EXIT_VIOLATIONS if scheduler.statuses[COMPLETED_WITH_VIOLATIONS] else EXIT_OK
