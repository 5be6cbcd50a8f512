"""Settings: flags and INFERTAP_* variables, one-line errors naming the option, the CLI surface."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.settings import SettingsError, parse_settings
from tests.conftest import REPO_ROOT


def test_defaults_follow_the_design() -> None:
    settings = parse_settings([], environ={})
    assert settings.sampling_percentage == 20
    assert settings.capture_methods == frozenset({"POST"})
    assert settings.capture_input and settings.capture_output
    assert settings.max_capture_bytes == 1 << 20
    assert settings.max_file_bytes == 8 << 20
    assert settings.inference_id_header == "X-Inference-Id"
    assert settings.variant_name == "AllTraffic"
    assert (settings.listen_port, settings.admin_port) == (9000, 9090)


def test_environment_variables_set_every_option_and_flags_win() -> None:
    environ = {
        "INFERTAP_SAMPLING_PERCENTAGE": "5",
        "INFERTAP_UPSTREAM": "http://model:8080/",
        "INFERTAP_CAPTURE_MODE": "output",
        "INFERTAP_MAX_CAPTURE_BYTES": "64KiB",
        "INFERTAP_DESTINATION": "s3://bucket/prefix/x",
        "INFERTAP_REDACT_CSV_COLUMNS": "0, 3",
        "INFERTAP_LOG_LEVEL": "debug",
    }
    settings = parse_settings(["--sampling-percentage", "7.5"], environ=environ)
    assert settings.sampling_percentage == 7.5
    assert settings.upstream == "http://model:8080"
    assert (settings.capture_input, settings.capture_output) == (False, True)
    assert settings.max_capture_bytes == 64 * 1024
    assert (settings.destination.bucket, settings.destination.prefix) == ("bucket", "prefix/x")
    assert settings.redact_csv_columns == (0, 3)
    assert settings.log_level == "debug"


@pytest.mark.parametrize(
    ("argv", "environ", "names"),
    [
        (["--sampling-percentage", "120"], {}, "--sampling-percentage"),
        (["--sampling-percentage", "lots"], {}, "--sampling-percentage"),
        ([], {"INFERTAP_FLUSH_INTERVAL": "soon"}, "INFERTAP_FLUSH_INTERVAL (--flush-interval)"),
        ([], {"INFERTAP_LOG_LEVEL": "loud"}, "INFERTAP_LOG_LEVEL (--log-level)"),
        (["--upstream", "ftp://x"], {}, "--upstream"),
        (["--upstream", "http://127.0.0.1:99999999"], {}, "--upstream port"),
        (["--upstream", "http://127.0.0.1:0"], {}, "--upstream port"),
        ([], {"INFERTAP_UPSTREAM": "http://127.0.0.1:-1"}, "--upstream port"),
        (["--capture-mode", "sideways"], {}, "--capture-mode"),
        (["--max-capture-bytes", "big"], {}, "--max-capture-bytes"),
        (["--listen", "9000"], {}, "--listen"),
        (["--listen", "0.0.0.0:9000", "--admin-listen", "0.0.0.0:9000"], {}, "--admin-listen"),
        (["--endpoint-name", "bad/name"], {}, "--endpoint-name"),
        (["--destination", "gs://bucket"], {}, "--destination"),
        (["--redact-csv-columns", "a"], {}, "--redact-csv-columns"),
        (["--workers", "0"], {}, "--workers"),
        (["--no-such-flag"], {}, "--no-such-flag"),
    ],
)
def test_bad_values_name_the_option(argv: list[str], environ: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(argv, environ=environ)
    message = str(caught.value)
    assert names in message
    assert "\n" not in message


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_cli_error_is_one_line_and_exit_code_2() -> None:
    result = run_cli("--sampling-percentage", "120")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "infertap-sidecar: error: --sampling-percentage must be between 0 and 100, got 120.0\n"
    )


def test_cli_upstream_port_out_of_range_is_one_line() -> None:
    """What a pod gets when its upstream URL holds a port no socket can have."""
    env = {**os.environ, "INFERTAP_UPSTREAM": "http://127.0.0.1:99999999"}
    result = run_cli(env=env)
    assert result.returncode == 2
    assert result.stderr == (
        "infertap-sidecar: error: --upstream port must be between 1 and 65535, "
        "got 'http://127.0.0.1:99999999'\n"
    )


def test_cli_help_documents_flags_and_environment() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: infertap-sidecar [options]")
    for text in ("--upstream", "--sampling-percentage", "--destination", "INFERTAP_<FLAG>"):
        assert text in result.stdout


def test_inject_webhook_subcommand_is_dispatched() -> None:
    if not (REPO_ROOT / "sidecar" / "injection" / "server.py").exists():
        pytest.fail(
            "sidecar/injection/server.py is missing: the inject-webhook subcommand has no target"
        )
    result = run_cli("inject-webhook", "--help")
    assert result.returncode == 0, result.stderr
    assert "--sampling-percentage" not in result.stdout  # the webhook's own help, not ours


def test_cli_reports_a_taken_port_in_one_log_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "--listen",
            f"127.0.0.1:{port}",
            "--admin-listen",
            "127.0.0.1:0",
            "--spool-dir",
            str(tmp_path / "spool"),
            "--destination",
            str(tmp_path / "dest"),
        )
    assert result.returncode == 1
    assert '"level":"error"' in result.stderr and "cannot start" in result.stderr


def test_startup_log_lists_settings_without_secrets(tmp_path: Path) -> None:
    from sidecar.__main__ import public_settings

    settings = parse_settings(
        ["--upstream", "http://user:hunter2@model:8080", "--kms-key-id", "arn:aws:kms:key/1"],
        environ={},
    )
    public = public_settings(settings)
    assert public["upstream"] == "http://***@model:8080"
    assert public["kms_key_id"] == "set"
    assert public["sampling_percentage"] == 20.0
    assert public["capture_methods"] == ["POST"]
    assert "hunter2" not in repr(public)
