"""Option values every program parses alike: INFERTAP_<FLAG> defaults, sizes, HOST:PORT, numbers.

Each parser raises the caller's own error type, with a message naming the option.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version

ENV_PREFIX = "INFERTAP_"
LOG_LEVELS = ("debug", "info", "warning", "error")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_MAX_SIZE = 2**60


class OptionError(ValueError):
    """A bad option value, when the caller names no error type of its own."""


def env_name(dest: str) -> str:
    """The environment variable of a flag's destination: `read_concurrency` -> INFERTAP_READ_…."""
    return ENV_PREFIX + dest.upper()


def apply_env(
    parser: argparse.ArgumentParser,
    environ: Mapping[str, str],
    error: type[Exception] = OptionError,
) -> None:
    """INFERTAP_<FLAG> variables become the flags' defaults, so the command line still wins.

    argparse neither names the variable nor checks choices or types of defaults: done here.
    """
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = env_name(action.dest)
        if name not in environ:
            continue
        value = environ[name]
        option = action.option_strings[0]
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            raise error(f"{name} ({option}) must be one of {choices}, got {value!r}")
        if callable(action.type):
            try:
                action.type(value)
            except (TypeError, ValueError):
                raise error(f"{name} ({option}) must be a number, got {value!r}") from None
        action.default = value


def parse_size(text: str, option: str, error: type[Exception] = OptionError) -> int:
    """`8MiB`, `512KiB`, `1GB` or plain bytes -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise error(f"{option} must be a size such as 8MiB, 512KiB or 1048576, got {text!r}")
    number, unit = match.groups()
    # Decimal: exact, and no float overflow on a long run of digits.
    size = int(Decimal(number) * _UNITS[(unit or "B").lower()])
    if size > _MAX_SIZE:
        raise error(f"{option} must be at most 1EiB, got {text!r}")
    return size


def host_port(text: str, option: str, error: type[Exception] = OptionError) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets; an empty host means every address)."""
    host, sep, port = text.rpartition(":")
    # isascii: str.isdigit() also accepts digits int() cannot read, such as '²'.
    if not sep or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise error(f"{option} must be HOST:PORT such as 0.0.0.0:9000, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def number(
    value: object,
    option: str,
    low: float,
    high: float | None = None,
    *,
    integral: bool = False,
    error: type[Exception] = OptionError,
) -> float:
    """A number in [low, high] (no upper bound when `high` is None); whole when `integral`."""
    try:
        result = float(str(value))
    except ValueError:
        raise error(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(result):
        raise error(f"{option} must be a finite number, got {value!r}")
    if integral and not result.is_integer():
        raise error(f"{option} must be a whole number, got {value!r}")
    if not low <= result <= (high if high is not None else float("inf")):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise error(f"{option} must be {bound}, got {value}")
    return result


def add_version(parser: argparse.ArgumentParser, program: str) -> None:
    """`--version`: the program's name and the installed distribution's version."""
    parser.add_argument(
        "--version", action="version", version=f"{program} {distribution_version()}"
    )


def distribution_version() -> str:
    try:
        return version("infertap")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"
