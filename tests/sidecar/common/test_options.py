"""The option parsers every program shares: INFERTAP_ defaults, sizes, HOST:PORT, numbers."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from sidecar.common import options


class Custom(ValueError):
    pass


def test_each_parser_raises_the_callers_error_naming_the_option() -> None:
    with pytest.raises(Custom, match="--max-file-bytes must be a size"):
        options.parse_size("8 parsecs", "--max-file-bytes", Custom)
    with pytest.raises(Custom, match="--listen must be HOST:PORT"):
        options.host_port("localhost", "--listen", Custom)
    with pytest.raises(Custom, match="--workers must be between 1 and 64, got 65"):
        options.number("65", "--workers", 1, 64, error=Custom)
    with pytest.raises(Custom, match="--workers must be a whole number"):
        options.number("1.5", "--workers", 1, 64, integral=True, error=Custom)
    with pytest.raises(Custom, match="must be a number"):
        options.number("nan-ish", "--delay", 0, error=Custom)


def test_values_parse() -> None:
    assert options.parse_size("8MiB", "--x") == 8 * 2**20
    assert options.parse_size("1.5KB", "--x") == 1500
    assert options.host_port("[::1]:9000", "--x") == ("::1", 9000)
    assert options.host_port(":9090", "--x") == ("0.0.0.0", 9090)
    assert options.number("0.5", "--x", 0) == 0.5


def test_env_defaults_are_checked_against_choices_and_types() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log-level", choices=options.LOG_LEVELS, default="info")
    parser.add_argument("--workers", type=int, default=1)
    with pytest.raises(Custom, match=r"INFERTAP_LOG_LEVEL \(--log-level\) must be one of"):
        options.apply_env(parser, {"INFERTAP_LOG_LEVEL": "loud"}, Custom)
    with pytest.raises(Custom, match=r"INFERTAP_WORKERS \(--workers\) must be a number"):
        options.apply_env(parser, {"INFERTAP_WORKERS": "two"}, Custom)
    options.apply_env(parser, {"INFERTAP_WORKERS": "3"}, Custom)
    assert parser.parse_args([]).workers == 3
    assert parser.parse_args(["--workers", "5"]).workers == 5  # the flag wins


@pytest.mark.parametrize(
    "command",
    [
        ["infertap-sidecar", "--version"],
        ["infertap-sidecar", "inject-webhook", "--version"],
    ],
)
def test_version_flag(command: list[str]) -> None:
    module = {"infertap-sidecar": "sidecar"}[command[0]]
    result = subprocess.run(
        [sys.executable, "-m", module, *command[1:]], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(command[0]) and result.stdout.split()[-1][0].isdigit()
