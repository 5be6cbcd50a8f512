"""How runs end when things go wrong: values a double cannot hold, unwritable reports, runs past
--max-runtime or sent SIGTERM (Stopped), and the scheduler's handling of Stopped hours."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from analyzer.__main__ import main
from analyzer.commands.baseline import create_baseline
from tests.analyzer.captures import ENDPOINT, HOUR, csv_record, write_local
from tests.conftest import REPO_ROOT

COLUMNS = ["y", "a", "b"]
WINDOW = ["--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"]


def strict_json(text: str) -> Any:
    """JSON as the spec has it: Infinity and NaN tokens are errors."""

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("baseline")
    lines = [f"{i % 7 / 10},{i % 10},{i % 5}" for i in range(200)]
    (folder / "train.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
    create_baseline(str(folder / "train.csv"), str(folder))
    return folder


def run_args(captures: Path, baseline: Path, output: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--captures", str(captures),
        "--endpoint-name", ENDPOINT,
        "--baseline-statistics", str(baseline / "statistics.json"),
        "--baseline-constraints", str(baseline / "constraints.json"),
        "--output", str(output),
        *WINDOW,
        *extra,
    ]  # fmt: skip


def good_lines(count: int) -> list[bytes]:
    return [
        csv_record(f"{i % 10},{i % 5}", f"{i % 7 / 10}", HOUR + timedelta(seconds=i % 3600))
        for i in range(count)
    ]


def test_values_a_double_cannot_hold_are_counted_never_fatal(
    baseline: Path, tmp_path: Path
) -> None:
    lines = [
        *good_lines(50),
        csv_record("1e999,3", "0.5"),  # a client can send this
        csv_record("4,-1e999", "1E400"),
        csv_record("9" * 400 + ",2", "0.1"),  # an Integral text beyond a double
    ]
    write_local(tmp_path / "capture", HOUR, lines)
    output = tmp_path / "report"

    code = main(run_args(tmp_path / "capture", baseline, output))

    assert code in (0, 1)
    record = strict_json((output / "execution.json").read_text())
    assert record["status"] in ("Completed", "CompletedWithViolations")
    assert record["counts"]["non_finite_values"] == 4
    assert any("too large for a double" in w for w in record["warnings"])
    statistics = strict_json((output / "statistics.json").read_text())
    by_name = {f["name"]: f["numerical_statistics"] for f in statistics["features"]}
    assert by_name["a"]["common"] == {"num_present": 51, "num_missing": 2}
    assert by_name["a"]["max"] == 9.0  # the infinite values are left out of the moments
    assert by_name["y"]["common"] == {"num_present": 52, "num_missing": 1}


def test_a_baseline_with_a_value_a_double_cannot_hold_is_valid_json(tmp_path: Path) -> None:
    lines = [f"{i % 7 / 10},{i % 10},{i % 5}" for i in range(20)] + ["0.5,1e999,3"]
    (tmp_path / "train.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
    create_baseline(str(tmp_path / "train.csv"), str(tmp_path / "out"))
    statistics = strict_json((tmp_path / "out" / "statistics.json").read_text())
    a = next(f for f in statistics["features"] if f["name"] == "a")["numerical_statistics"]
    assert a["common"] == {"num_present": 20, "num_missing": 1}


def test_reports_that_cannot_be_written_still_leave_a_failed_record(
    baseline: Path, tmp_path: Path
) -> None:
    write_local(tmp_path / "capture", HOUR, good_lines(20))
    output = tmp_path / "report"
    (output / "statistics.json").mkdir(parents=True)  # a folder where the file goes

    code = main(run_args(tmp_path / "capture", baseline, output))

    assert code == 2
    record = strict_json((output / "execution.json").read_text())
    assert record["status"] == "Failed"
    assert "statistics.json" in record["failure_reason"]
    assert record["message"].startswith("Failed: cannot write the reports")


def test_a_run_past_max_runtime_ends_stopped_with_a_record(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(5):
        write_local(tmp_path / "capture", HOUR, good_lines(200))
    output = tmp_path / "report"

    code = main(run_args(tmp_path / "capture", baseline, output, "--max-runtime", "0.000001"))

    assert code == 3
    record = strict_json((output / "execution.json").read_text())
    assert record["status"] == "Stopped"
    assert "--max-runtime" in record["stop_reason"]
    assert "0 of 5 capture files profiled" in record["stop_reason"]
    assert record["message"] == f"Stopped: {record['stop_reason']}"
    assert record["options"]["max_runtime"] == 0.000001
    assert not (output / "statistics.json").exists()
    assert "Stopped:" in capsys.readouterr().err


def test_max_runtime_is_checked_and_read_from_the_environment(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    write_local(tmp_path / "capture", HOUR, good_lines(20))
    assert main(run_args(tmp_path / "capture", baseline, tmp_path / "r", "--max-runtime", "0")) == 2
    assert "--max-runtime must be a positive number of seconds" in capsys.readouterr().err
    monkeypatch.setenv("INFERTAP_MAX_RUNTIME", "0.000001")
    assert main(run_args(tmp_path / "capture", baseline, tmp_path / "env")) == 3


def test_sigterm_stops_a_running_analysis_with_a_stopped_record(
    baseline: Path, tmp_path: Path
) -> None:
    lines = good_lines(20_000)
    for part in range(6):
        write_local(tmp_path / "capture", HOUR, lines[part::6])
    output = tmp_path / "report"
    args = run_args(tmp_path / "capture", baseline, output, "--log-level", "debug")
    process = subprocess.Popen(
        [sys.executable, "-m", "analyzer", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # wait until it is profiling, with its handler in place
            if "profiling capture files" in line:
                break
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 3, stderr
    record = strict_json((output / "execution.json").read_text())
    assert record["status"] == "Stopped"
    assert record["stop_reason"].startswith("SIGTERM received after ")
    assert "Stopped: SIGTERM received" in stderr


def test_version_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    for argv in (["--version"], ["run", "--version"], ["schedule", "--version"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        assert capsys.readouterr().out == f"infertap-analyzer {version('infertap')}\n"


def test_a_sum_past_the_double_range_is_written_as_null(tmp_path: Path) -> None:
    lines = [f"0.5,{i % 10},1.7e308" for i in range(4)]
    (tmp_path / "train.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
    create_baseline(str(tmp_path / "train.csv"), str(tmp_path / "out"))
    statistics = strict_json((tmp_path / "out" / "statistics.json").read_text())
    b = next(f for f in statistics["features"] if f["name"] == "b")["numerical_statistics"]
    assert b["sum"] is None
    assert b["max"] == 1.7e308
