"""`infertap-analyzer watch`: live monitoring over the captures as they land (DESIGN.md section 13),
or `--replay` of a past interval, one JSON line per evaluation."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from analyzer.commands.flags import (
    add_capture_flags,
    add_flag_groups,
    configure_logging,
    host_port,
    number,
    parse_log_level,
    parse_utc_time,
    require,
    whole_number,
)
from analyzer.decoding.payloads import MONITOR_SIDES
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.live import settings as live_settings
from analyzer.live.decision import DEFAULT_FALSE_ALARMS_PER_DAY
from analyzer.live.replay_command import run_replay
from analyzer.live.settings import LiveSettings, in_shard, parse_shard
from analyzer.live.timeline import duration
from analyzer.live.watcher import watch
from analyzer.results.status import EXIT_FAILED
from analyzer.scheduling.config import EndpointConfig, load_config

_EPILOG = """\
Every --step, the records of the last --window (by their inferenceTime) are checked against the
baseline with the checks, thresholds and wording of `run`; a violation is raised live only when
it stays significant over every feature and every step of a day (--false-alarms-per-day), so
traffic like the baseline's stays quiet. With an output location each closed hour's reports are
written as `run` writes them, --delay minutes after the hour (late files included).

Metrics on --metrics-listen: infertap_live_* (see the README), and GET /live/ENDPOINT/VARIANT
answers the current window's report.html.

--replay evaluates every step of [--start, --end) from the stored captures and writes one line
per evaluation to --evaluations-out:
  {"endpoint", "variant", "time", "records", "violations": [{feature_name, ...}]}
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `watch` subcommand; every flag also reads INFERTAP_<FLAG>."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "watch",
        help="check captured traffic against a baseline every minute, as it lands",
        description=(
            "Follow the capture location, profile records into steps by inferenceTime and check "
            "the sliding window against the baseline every step; serve live metrics. Endpoints "
            "come from the schedule's YAML (--config) or the flags of `run` for one endpoint."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = {
        "what to watch": _add_endpoint_flags,
        "timing and decision": _add_timing_flags,
        "replay a past interval": _add_replay_flags,
    }
    return add_flag_groups(parser, groups)


def _add_endpoint_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--config", help="the schedule's YAML: every endpoint in it is watched")
    add_capture_flags(add, "endpoint name (without --config)")
    add("--baseline-statistics", help="statistics.json of the baseline (path or s3://)")
    add("--baseline-constraints", help="constraints.json of the baseline (path or s3://)")
    add("--output", default="", help="folder or s3:// prefix: closed hours' reports go there")
    add("--monitor", default="both", choices=MONITOR_SIDES, help="sides to monitor (default both)")
    add("--record-hook", default=None, help="package.module:function decoding other payloads")
    add("--shard", default="0/1", help="i/n: watch the endpoints whose name hashes to shard i")
    add("--metrics-listen", default=None, help="HOST:PORT for /metrics and /live/... pages")
    add("--log-level", default="info", help="debug, info, warning or error (default info)")


def _add_timing_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add(
        "--window",
        default=live_settings.DEFAULT_WINDOW,
        help="how far back each check looks, by inferenceTime (default 15m)",
    )
    add(
        "--step",
        default=live_settings.DEFAULT_STEP,
        help="time between checks; must divide an hour (default 1m)",
    )
    add(
        "--poll-interval",
        default=live_settings.DEFAULT_POLL_INTERVAL,
        help="how often new capture files are listed (default 15s)",
    )
    add(
        "--min-records",
        default=str(live_settings.DEFAULT_MIN_RECORDS),
        help="records a window needs before it is checked (default 100)",
    )
    add(
        "--false-alarms-per-day",
        default=str(DEFAULT_FALSE_ALARMS_PER_DAY),
        help="expected false live violations a day over all features (default 0.01)",
    )
    add("--delay", default=None, help="minutes after an hour before its reports (default 20)")


def _add_replay_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--replay", action="store_true", help="evaluate [--start, --end) from stored captures")
    add("--start", help="replay start, ISO 8601 UTC")
    add("--end", help="replay end (exclusive), ISO 8601 UTC")
    add("--evaluations-out", help="JSON Lines file for the replay's evaluations ('-': stdout)")


def settings_from_args(args: argparse.Namespace) -> LiveSettings:
    delay = None if args.delay in (None, "") else number(args.delay, "--delay", 0, 24 * 60)
    return LiveSettings(
        window=int(duration(args.window, "--window")),
        step=int(duration(args.step, "--step")),
        poll_interval=duration(args.poll_interval, "--poll-interval"),
        min_records=whole_number(args.min_records, "--min-records", 1),
        false_alarms_per_day=number(args.false_alarms_per_day, "--false-alarms-per-day", 1e-9),
        delay_minutes=delay,
    )


def endpoints_from_args(args: argparse.Namespace) -> list[EndpointConfig]:
    """The endpoints of --config (this shard's), or the one the flags describe."""
    shard = parse_shard(args.shard)
    if args.config:
        config = load_config(args.config)
        return [e for e in config.endpoints if in_shard(e, shard)]
    require(
        args,
        "captures",
        "endpoint_name",
        "baseline_statistics",
        "baseline_constraints",
        when="without --config",
    )
    options = {"monitor": args.monitor, "record_hook": args.record_hook or None}
    endpoint = EndpointConfig(
        name=args.endpoint_name,
        variant=args.variant_name,
        captures=args.captures,
        baseline_statistics=args.baseline_statistics,
        baseline_constraints=args.baseline_constraints,
        output=args.output or "",
        options=options,
    )
    return [endpoint] if in_shard(endpoint, shard) else []


def run(args: argparse.Namespace) -> int:
    """Watch until stopped (SIGTERM/SIGINT: exit 0), or replay and exit; 2 on bad usage."""
    try:
        configure_logging(parse_log_level(args.log_level))
        settings = settings_from_args(args)
        endpoints = endpoints_from_args(args)
        if args.replay:
            return run_replay(endpoints, settings, replay_interval(args), args.evaluations_out)
        listen = host_port(args.metrics_listen, "--metrics-listen") if args.metrics_listen else None
        return watch(endpoints, settings, listen)
    except AnalyzerError as exc:
        print(f"infertap-analyzer watch: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def replay_interval(args: argparse.Namespace) -> tuple[datetime, datetime]:
    """--start and --end of a replay (with --evaluations-out, all required)."""
    require(args, "start", "end", "evaluations_out", when="with --replay")
    start = parse_utc_time(args.start, "--start")
    end = parse_utc_time(args.end, "--end")
    if end <= start:
        raise ConfigError(f"--end ({args.end}) must be after --start ({args.start})")
    return start, end
