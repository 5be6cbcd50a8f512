"""What the analyzer's subcommands share: INFERTAP_<FLAG> defaults, flag parsing, JSON logs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from analyzer.errors import ConfigError
from sidecar.common import options
from sidecar.common.logs import setup_logging
from sidecar.common.options import LOG_LEVELS, env_name

# `parser.add_argument` or `group.add_argument`: the flag helpers below add to either.
AddFlag = Callable[..., object]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def apply_env(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    """INFERTAP_<FLAG> variables become the flags' defaults, so the command line still wins."""
    options.apply_env(parser, os.environ if environ is None else environ, ConfigError)


def require(args: argparse.Namespace, *dests: str, when: str = "") -> None:
    """Each flag, named by its destination, must be set; ConfigError names the first one that is
    not (`when`: the condition under which it is required, e.g. "with --captures")."""
    for dest in dests:
        if not getattr(args, dest, None):
            flag = "--" + dest.replace("_", "-")
            condition = f" {when}" if when else ""
            raise ConfigError(f"{flag} is required{condition} (or set {env_name(dest)})")


def add_flag_groups(
    parser: argparse.ArgumentParser,
    groups: Mapping[str, Callable[[argparse._ArgumentGroup], None]],
) -> argparse.ArgumentParser:
    """Add each titled group of flags, then let INFERTAP_<FLAG> set their defaults."""
    for title, add_flags in groups.items():
        add_flags(parser.add_argument_group(title))
    apply_env(parser)
    return parser


def add_capture_flags(
    add: AddFlag, endpoint_help: str = "endpoint name (first folder below the capture prefix)"
) -> None:
    """--captures, --endpoint-name and --variant-name: whose captures to read."""
    add("--captures", help="capture prefix: s3://bucket/prefix, file:///path or a folder")
    add("--endpoint-name", help=endpoint_help)
    add("--variant-name", default="AllTraffic", help="variant name (default AllTraffic)")


def add_window_flags(add: AddFlag) -> None:
    """--start and --end: the capture window [start, end) a run reads."""
    add("--start", help="window start, ISO 8601 UTC, e.g. 2026-11-25T08:00:00Z")
    add("--end", help="window end (exclusive), e.g. 2026-11-25T09:00:00Z")


def print_outcome(
    message: str, warnings: Sequence[str], output_files: Sequence[str], finished: bool
) -> None:
    """A run's outcome for the person who started it: stdout when it finished, else stderr."""
    stream = sys.stdout if finished else sys.stderr
    print(message, file=stream)
    for warning in warnings:
        print(f"warning: {warning}", file=stream)
    if output_files:
        print(f"reports: {', '.join(output_files)}", file=stream)


def number(
    value: object, option: str, low: float, high: float | None = None, integral: bool = False
) -> float:
    """A number flag in [low, high]; whole when `integral`."""
    return options.number(value, option, low, high, integral=integral, error=ConfigError)


def host_port(text: str, option: str) -> tuple[str, int]:
    return options.host_port(text, option, ConfigError)


def parse_flag(value: object, option: str, empty: bool | None = None) -> bool:
    """A boolean flag that may come from the environment as text ("true", "0", ...).

    `empty`: what an empty text means; None makes it an error.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or (text == "" and empty is False):
        return False
    if text == "" and empty is True:
        return True
    raise ConfigError(f"{option} must be true or false, got {value!r}")


def whole_number(value: object, option: str, low: int) -> int:
    """An integer flag of at least `low`."""
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"{option} must be a whole number, got {value!r}") from None
    if number < low:
        raise ConfigError(f"{option} must be at least {low}, got {number}")
    return number


def seconds(value: object, option: str) -> float:
    """A positive, finite number of seconds."""
    try:
        number = float(str(value))
    except ValueError:
        raise ConfigError(f"{option} must be a number of seconds, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise ConfigError(f"{option} must be a positive number of seconds, got {value!r}")
    return number


def parse_utc_time(text: str, option: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC. The result is in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise ConfigError(
            f"{option} must be an ISO 8601 time like 2026-11-25T08:00:00Z, got {text!r}"
        ) from None
    except OverflowError:  # an offset that moves the time past year 1 or 9999
        raise ConfigError(
            f"{option} must be between years 1 and 9999 in UTC, got {text!r}"
        ) from None


def parse_log_level(value: object) -> str:
    level = str(value).strip().lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def configure_logging(level: str) -> None:
    """JSON lines on stderr, unless the embedding program set up logging already."""
    setup_logging(level, keep_existing=True)
