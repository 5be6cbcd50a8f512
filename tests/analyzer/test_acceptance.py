"""Acceptance: baseline a 30-column dataset, capture drifted traffic, get exactly the violations.

Drift injected into one hour of captures (two sidecar replicas' files): shifted means on f04 and
f10, a new category on cat_a, missing values on f13. A clean hour from the same distribution
must complete with no violations. Hours around the window hold garbage that must not be read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from analyzer.commands.baseline import create_baseline
from analyzer.job import MonitoringJob
from analyzer.pipeline.monitoring import run_monitoring
from analyzer.results.status import COMPLETED
from tests.analyzer.captures import ENDPOINT, HOUR, VARIANT, chunks, csv_record, write_local
from tests.conftest import REPO_ROOT

NUMERIC = [f"f{i:02d}" for i in range(1, 28)]
COLUMNS = ["label", *NUMERIC, "cat_a", "cat_b"]
SHIFTED = ("f04", "f10")
WITH_MISSING = "f13"
CATEGORIES_A = ["red", "green", "blue"]
CATEGORIES_B = ["S", "M", "L"]


def make_rows(
    count: int,
    seed: int,
    *,
    shift: float = 0.0,
    missing_share: float = 0.0,
    new_category_share: float = 0.0,
) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    columns: dict[str, list[str]] = {"label": [f"{v:.4f}" for v in rng.uniform(0, 1, count)]}
    for index, name in enumerate(NUMERIC, start=1):
        if index % 2:  # odd features are whole numbers, even ones decimals
            columns[name] = [str(v) for v in rng.integers(0, 50, count)]
        else:
            values = rng.normal(index, 1 + index / 10, count)
            if name in SHIFTED:
                values += shift * (1 + index / 10)
            columns[name] = [f"{v:.4f}" for v in values]
    if missing_share:
        gone = rng.random(count) < missing_share
        columns[WITH_MISSING] = [
            "" if g else v for g, v in zip(gone, columns[WITH_MISSING], strict=False)
        ]
    cat_a = rng.choice(CATEGORIES_A, count, p=[0.5, 0.3, 0.2])
    if new_category_share:
        cat_a = np.where(rng.random(count) < new_category_share, "purple", cat_a)
    columns["cat_a"] = [str(v) for v in cat_a]
    columns["cat_b"] = [str(v) for v in rng.choice(CATEGORIES_B, count)]
    return [[columns[c][i] for c in COLUMNS] for i in range(count)]


def capture_lines(rows: list[list[str]], start_minute: int = 0) -> list[bytes]:
    """Each row as one exchange: label = the model's output, the rest its CSV input."""
    lines = []
    for index, row in enumerate(rows):
        when = HOUR + timedelta(minutes=start_minute, seconds=index % 3000)
        lines.append(csv_record(",".join(row[1:]), row[0], when))
    return lines


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("baseline")
    train = folder / "train.csv"
    rows = make_rows(4000, seed=1)
    train.write_text(",".join(COLUMNS) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    create_baseline(str(train), str(folder))
    return folder


def write_window(root: Path, rows: list[list[str]]) -> None:
    """The hour under test in two replicas' files, plus garbage in the hours around it."""
    for part in chunks(capture_lines(rows), 2):
        write_local(root, HOUR, part)
    garbage = make_rows(500, seed=99, shift=5.0, missing_share=0.9, new_category_share=0.9)
    write_local(root, HOUR - timedelta(hours=1), capture_lines(garbage))
    write_local(root, HOUR + timedelta(hours=1), capture_lines(garbage))


def job_for(captures: Path, baseline: Path, output: Path) -> MonitoringJob:
    return MonitoringJob(
        captures=str(captures),
        endpoint_name=ENDPOINT,
        variant_name=VARIANT,
        baseline_statistics=str(baseline / "statistics.json"),
        baseline_constraints=str(baseline / "constraints.json"),
        start=HOUR,
        end=HOUR + timedelta(hours=1),
        output=str(output),
    )


def test_drifted_window_reports_exactly_the_injected_violations(
    baseline: Path, tmp_path: Path
) -> None:
    captures = tmp_path / "capture"
    write_window(
        captures,
        make_rows(3000, seed=2, shift=1.0, missing_share=0.3, new_category_share=0.05),
    )
    output = tmp_path / "report"
    command = [
        sys.executable,
        "-m",
        "analyzer",
        "run",
        "--captures",
        str(captures),
        "--endpoint-name",
        ENDPOINT,
        "--baseline-statistics",
        str(baseline / "statistics.json"),
        "--baseline-constraints",
        str(baseline / "constraints.json"),
        "--start",
        "2026-11-25T08:00:00Z",
        "--end",
        "2026-11-25T09:00:00Z",
        "--output",
        str(output),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 1, done.stderr
    assert "CompletedWithViolations: Job completed successfully with 4 violations." in done.stdout

    violations = json.loads((output / "constraint_violations.json").read_text())["violations"]
    found = sorted((v["feature_name"], v["constraint_check_type"]) for v in violations)
    assert found == [
        ("cat_a", "categorical_values_check"),
        ("f04", "baseline_drift_check"),
        ("f10", "baseline_drift_check"),
        ("f13", "completeness_check"),
    ]
    record = json.loads((output / "execution.json").read_text())
    assert record["status"] == "CompletedWithViolations"
    # The drift metric is what the check compared: an alert at the threshold agrees with it.
    above = {name for name, value in record["feature_drift"].items() if value > 0.1}
    assert above == {name for name, check in found if check == "baseline_drift_check"}
    assert set(record["feature_drift"]) == set(COLUMNS)
    assert record["counts"]["files"] == 2
    assert record["records_analyzed"] == 3000
    statistics = json.loads((output / "statistics.json").read_text())
    assert [f["name"] for f in statistics["features"]] == COLUMNS
    assert statistics["dataset"]["item_count"] == 3000


def test_clean_window_completes_without_violations(baseline: Path, tmp_path: Path) -> None:
    captures = tmp_path / "capture"
    write_window(captures, make_rows(3000, seed=3))
    result = run_monitoring(job_for(captures, baseline, tmp_path / "report"))
    assert result.status == COMPLETED, [v.to_json() for v in result.violations]
    assert result.message == "Completed: Job completed successfully with no violations."
    assert result.violations == []
    assert result.records_analyzed == 3000
    assert set(result.feature_drift) == set(COLUMNS)
    assert max(result.feature_drift.values()) < 0.1
    body = (tmp_path / "report" / "constraint_violations.json").read_bytes()
    assert body == b'{\n  "violations" : [ ]\n}\n'
