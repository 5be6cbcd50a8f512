"""Real inputs for analyzer tests: the CLI in a subprocess, a baseline made by
`infertap-analyzer baseline`, capture files written with `sidecar.common.record.build_record` in the
sidecar's local layout, and a config file."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record
from tests.conftest import REPO_ROOT

ENDPOINT = "churn"
VARIANT = "AllTraffic"
# Training data: the label (model output) first, then the inputs x (0..99, twice) and y.
TRAIN_X = [i % 100 for i in range(200)]
DRIFTED_X = [50 + i % 100 for i in range(200)]  # Half the mass moved past the baseline's max.


def y_of(i: int) -> float:
    return round(1.0 + (i * 37 % 100) / 100, 2)


def label_of(i: int) -> float:
    return round((i * 13 % 100) / 100, 2)


def analyzer(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m analyzer ARGS` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_baseline(folder: Path) -> tuple[Path, Path]:
    """statistics.json and constraints.json of the training data, by the real baseline command."""
    dataset = folder / "train.csv"
    lines = ["label,x,y"] + [f"{label_of(i)},{x},{y_of(i)}" for i, x in enumerate(TRAIN_X)]
    dataset.write_text("\n".join(lines) + "\n")
    out = folder / "baseline"
    done = analyzer("baseline", "--dataset", str(dataset), "--header", "--output", str(out))
    assert done.returncode == 0, done.stderr
    return out / "statistics.json", out / "constraints.json"


def write_captures(
    root: Path, hour: datetime, xs: Sequence[int], endpoint: str = ENDPOINT, variant: str = VARIANT
) -> Path:
    """One capture file in `root/{endpoint}/{variant}/YYYY/MM/DD/HH/`: CSV in (x,y), CSV out."""
    folder = root / partition_key(endpoint, variant, hour)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(hour + timedelta(minutes=1), uuid.uuid4())
    with path.open("wb") as out:
        for i, x in enumerate(xs):
            out.write(
                build_record(
                    inference_time=hour + timedelta(seconds=i),
                    request=Payload("text/csv", f"{x},{y_of(i)}".encode()),
                    response=Payload("text/csv; charset=utf-8", f"{label_of(i)}".encode()),
                )
            )
    return path


def write_config(folder: Path, statistics: Path, constraints: Path, broken: bool = True) -> Path:
    """A monitor.yaml with the churn endpoint and, if `broken`, one whose baseline is missing."""
    endpoints = [
        {
            "name": ENDPOINT,
            "baseline_statistics": str(statistics),
            "baseline_constraints": str(constraints),
        }
    ]
    if broken:
        endpoints.insert(
            0,
            {
                "name": "broken",
                "variant": VARIANT,
                "captures": "capture",  # Relative to the config file's folder.
                "baseline_statistics": str(folder / "missing" / "statistics.json"),
                "baseline_constraints": str(constraints),
            },
        )
    document = {
        "defaults": {"captures": str(folder / "capture"), "output": "reports", "delay": 0},
        "endpoints": endpoints,
    }
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def stable_delay(now: datetime) -> int:
    """A --delay (minutes) that puts `now - delay` mid-hour, so the due hours cannot change
    while a test runs, whatever the minute it starts at."""
    return (now.minute - 30) % 60


def start_scheduler(
    config: Path, port: int, delay: int, log_path: Path, catch_up_hours: int = 2
) -> subprocess.Popen[bytes]:
    """The long-running `schedule` command, logging to `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "analyzer", "schedule", "--config", str(config),
             "--metrics-listen", f"127.0.0.1:{port}", "--delay", str(delay),
             "--catch-up-hours", str(catch_up_hours)],
            cwd=REPO_ROOT, stdout=log, stderr=log,
        )  # fmt: skip
