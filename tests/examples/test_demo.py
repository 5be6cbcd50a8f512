"""`examples/demo.py --quick` end to end: model server, two sidecars, traffic, baseline and
monitoring, with the statuses and violations a user reads; and it stops its processes on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sidecar.common.record import parse_record
from tests.conftest import REPO_ROOT

DRIFTED = {"mean_texture", "mean_smoothness", "worst_area"}


def records(folder: Path) -> list[bytes]:
    return [line for path in folder.rglob("*.jsonl") for line in path.read_bytes().splitlines()]


def test_demo_captures_traffic_and_finds_the_drift(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "examples/demo.py", "--quick", "--output", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a bound, not a measure: the fairness phase explains its model with SHAP
    )
    assert done.returncode == 0, done.stdout + done.stderr

    for endpoint in ("breast-cancer-clean", "breast-cancer-drifted"):
        lines = records(tmp_path / "capture" / endpoint / "AllTraffic")
        assert len(lines) == 600
        record = parse_record(lines[0])
        assert record.endpoint_input is not None and record.endpoint_output is not None
        assert record.endpoint_input.encoding == "CSV"
        assert len(record.endpoint_input.data.split(",")) == 30
        assert 0.0 <= float(record.endpoint_output.data) <= 1.0
    assert not [p for p in (tmp_path / "spool").rglob("*.jsonl")]

    clean = tmp_path / "monitoring" / "breast-cancer-clean" / "constraint_violations.json"
    assert json.loads(clean.read_text())["violations"] == []
    drifted = tmp_path / "monitoring" / "breast-cancer-drifted" / "constraint_violations.json"
    found = {
        (v["feature_name"], v["constraint_check_type"])
        for v in json.loads(drifted.read_text())["violations"]
    }
    assert {(name, "baseline_drift_check") for name in DRIFTED} <= found
    assert ("mean_symmetry", "completeness_check") in found

    table = done.stdout
    assert re.search(r"^clean\s+breast-cancer-clean\s+600\s+Completed\s+none$", table, re.M)
    assert re.search(
        r"^drifted\s+breast-cancer-drifted\s+600\s+CompletedWithViolations", table, re.M
    )
    assert "completeness_check: mean_symmetry" in table
    # Model quality: labels posted for the traffic, a good hour and a failing hour.
    assert re.search(
        r"^good\s+breast-cancer-clean\s+600\s+[0-9.]+\s+[0-9.]+\s+Completed$", table, re.M
    )
    assert re.search(
        r"^failing\s+breast-cancer-drifted\s+600\s+.*CompletedWithViolations$", table, re.M
    )
    assert re.search(r"Metric accuracy with [0-9.]+ was LessThanThreshold [0-9.]+", table)
    pages = re.findall(r"^  (?:run report|history):\s+(\S+)$", table, re.M)
    names = [Path(p).name for p in pages]
    # One page per monitored phase (the tabular and the LLM phases), then the history.
    assert names[-1] == "history.html" and names[:-1] == ["report.html"] * (len(names) - 1)
    assert len(names) >= 3 and all(Path(p).stat().st_size > 10_000 for p in pages)
    assert any("mean_texture" in Path(p).read_text() for p in pages[:-1])  # the drifted page

    # The LLM phase: streams captured as the assembled responses, drift in the descriptors.
    chats = records(tmp_path / "capture" / "support-chat-drifted" / "AllTraffic")
    assert len(chats) == 120
    chat = parse_record(chats[0])
    assert chat.endpoint_output is not None and chat.endpoint_output.encoding == "JSON"
    assert json.loads(chat.endpoint_output.data)["object"] == "chat.completion"
    assert chat.metadata["stream"] is True and chat.metadata["timeToFirstTokenMs"] > 0
    assert re.search(r"^llm-clean\s+support-chat-clean\s+120\s+Completed\s+none$", table, re.M)
    drift = re.search(r"^llm-drifted\s+support-chat-drifted\s+120\s+CompletedWithViolations\s+"
                      r"baseline_drift_check: (.*)$", table, re.M)  # fmt: skip
    assert drift is not None
    assert {"prompt_chars", "completion_tokens"} <= set(drift.group(1).split(", "))

    # Fairness: SageMaker Clarify's two monitors, one clean hour and one drifted hour each.
    for monitor, hour, status in (
        ("bias", "clean", "Completed"),
        ("bias", "biased", "CompletedWithViolations"),
        ("attribution", "clean", "Completed"),
        ("attribution", "shifted", "CompletedWithViolations"),
    ):
        assert re.search(rf"^{monitor}\s+{hour}\s+fairness-{hour}\s+\d+\s+{status}\b", table, re.M)
        page = tmp_path / "fairness" / monitor / f"fairness-{hour}" / "report.html"
        assert page.exists() and str(page) in table
    violations = tmp_path / "fairness" / "bias" / "fairness-biased" / "constraint_violations.json"
    named = {v["metric_name"] for v in json.loads(violations.read_text())["violations"]}
    assert {"DPPL", "DI"} <= named


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_every_process_the_demo_started(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "examples/demo.py", "--output", str(tmp_path)),
            *("--clean-rows", "100000", "--drifted-rows", "10"),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    pids: list[int] = []
    deadline = time.monotonic() + 60
    try:
        # Read progress lines until both sidecars and the model server have reported their PIDs.
        for line in process.stdout:
            pids += [int(pid) for pid in re.findall(r"PID (\d+)", line)]
            if len(pids) == 3 or time.monotonic() > deadline:
                break
        assert len(pids) == 3, f"saw PIDs {pids}"
        assert all(alive(pid) for pid in pids)
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, output
    assert "interrupted" in output
    assert not [pid for pid in pids if alive(pid)]
