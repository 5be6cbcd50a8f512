"""Every problem type's `quality-run` writes its report.html, checked in Chromium.

Binary classification is drawn in test_pages_in_chromium.py from SageMaker's example files;
here multiclass and regression runs go from `quality-baseline` to the page, as a user runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.__main__ import main
from tests.analyzer.quality_data import (
    capture_file,
    label_file,
    label_lines,
    quality_args,
    scored_record,
)
from tests.analyzer.reporting.chromium import Chromium
from tests.analyzer.reporting.test_pages_in_chromium import load

CLASSES = ("cat", "dog", "$_$")  # a class named by traffic: drawn as plain text
ROWS = 60


def _predicted(problem: str, i: int) -> str:
    if problem == "Regression":
        return str(i + (0.5 if i % 2 else -1.0))
    return CLASSES[(i + (i % 5 == 0)) % len(CLASSES)]  # every fifth one wrong


def _truth(problem: str, i: int) -> str | float:
    return float(i) if problem == "Regression" else CLASSES[i % len(CLASSES)]


def _quality_run(root: Path, problem: str) -> Path:
    rows = ["label,prediction"] + [
        f"{_truth(problem, i)},{_predicted(problem, i)}" for i in range(ROWS)
    ]
    (root / "val.csv").write_text("\n".join(rows) + "\n")
    baseline = [
        *("quality-baseline", "--dataset", str(root / "val.csv"), "--header"),
        *("--problem-type", problem, "--ground-truth-attribute", "label"),
        *("--inference-attribute", "prediction", "--output", str(root / "baseline")),
    ]
    assert main(baseline) == 0
    capture_file(root, [scored_record(f"r{i}", _predicted(problem, i)) for i in range(ROWS)])
    label_file(root, label_lines([(f"r{i}", _truth(problem, i)) for i in range(ROWS)]))
    extra = {"--problem-type": problem, "--inference-attribute": "0", "--probability-attribute": ""}
    assert main(quality_args(root, **extra)) == 0
    execution = json.loads((root / "out" / "execution.json").read_text())
    assert str(root / "out" / "report.html") in execution["output_files"], execution["warnings"]
    return root / "out" / "report.html"


@pytest.mark.parametrize(
    ("problem", "charts", "shown"),
    [
        # Metrics against thresholds and the confusion matrix (no curves without scores).
        ("MulticlassClassification", 2, ["multiclass classification", "weighted_f1", "$_$"]),
        ("Regression", 1, ["regression", "mae", "rmse", "r2"]),
    ],
)
def test_every_problem_type_gets_its_page(
    problem: str,
    charts: int,
    shown: list[str],
    browser: Chromium,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    page = _quality_run(tmp_path, problem)
    loaded = load(browser, page, screenshots / f"model-quality-{problem.lower()}.png")
    assert loaded.value["charts"] == loaded.value["drawn"] == loaded.value["declared"] == charts
    text = loaded.value["text"]
    assert "Completed" in text
    for item in shown:
        assert item in text, item
