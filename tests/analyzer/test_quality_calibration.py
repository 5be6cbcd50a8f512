"""CBPE on an over-confident model: the baseline measures calibration, quality-run corrects it,
warns when the estimate cannot be trusted, and reports NannyML's sampling error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.__main__ import main
from analyzer.checking.quality.calibration import expected_calibration_error, fit_isotonic
from tests.analyzer.quality_data import (
    capture_file,
    label_file,
    label_lines,
    quality_args,
    scored_record,
)

BASELINE_ROWS = 4000
WINDOW_ROWS = 3000
Floats = np.ndarray[Any, np.dtype[np.float64]]


def over_confident(rows: int, seed: int) -> tuple[Floats, Floats]:
    """(truth, score): the score is the true probability pushed towards 0 and 1."""
    generator = np.random.default_rng(seed)
    probability = generator.uniform(0.05, 0.95, rows)
    truth = (generator.random(rows) < probability).astype(np.float64)
    logit = np.log(probability / (1 - probability))
    return truth, 1 / (1 + np.exp(-3 * logit))


@pytest.fixture
def model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    truth, score = over_confident(BASELINE_ROWS, 1)
    lines = ["label,prediction,probability"]
    lines += [f"{t:g},{int(s > 0.5)},{s:.6f}" for t, s in zip(truth, score, strict=True)]
    (tmp_path / "val.csv").write_text("\n".join(lines) + "\n")
    code = main(
        [
            *("quality-baseline", "--dataset", str(tmp_path / "val.csv")),
            *("--problem-type", "BinaryClassification", "--ground-truth-attribute", "label"),
            *("--inference-attribute", "prediction", "--probability-attribute", "probability"),
            *("--output", str(tmp_path / "baseline")),
        ]
    )
    assert code == 0
    assert "scores are not calibrated probabilities" in capsys.readouterr().out
    truth, score = over_confident(WINDOW_ROWS, 2)
    capture_file(tmp_path, [scored_record(f"r{i}", f"{s:.6f}") for i, s in enumerate(score)])
    label_file(tmp_path, label_lines([(f"r{i}", int(t)) for i, t in enumerate(truth)]))
    return tmp_path


def _estimates(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    statistics = json.loads((root / "out" / "statistics.json").read_text())
    record = json.loads((root / "out" / "execution.json").read_text())
    return statistics["estimated_binary_classification_metrics"], record


def test_baseline_measures_calibration_error(model: Path) -> None:
    statistics = json.loads((model / "baseline" / "statistics.json").read_text())
    calibration = statistics["cbpe_reference"]["calibration"]
    assert calibration["recalibrate"] is True
    assert calibration["expected_calibration_error"] > 0.08
    assert calibration["expected_calibration_error_recalibrated"] < 0.04


def test_recalibrated_estimate_is_within_its_sampling_error(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = str(model / "baseline" / "statistics.json")
    assert main(quality_args(model, **{"--baseline-statistics": baseline})) in (0, 1)
    estimated, record = _estimates(model)
    gaps = record["estimate_vs_realised"]
    assert estimated["calibration"]["recalibrated"] is True
    for name in ("accuracy", "precision", "recall", "f1"):
        assert gaps[name]["within_3_sampling_errors"], (name, gaps[name])
    assert "CBPE" not in capsys.readouterr().out  # nothing to warn about


def test_raw_scores_miss_and_the_run_says_so(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(quality_args(model)) in (0, 1)  # 1: below the baseline's own values
    estimated, record = _estimates(model)
    gap = record["estimate_vs_realised"]["accuracy"]
    assert gap["difference"] > 0.05 and not gap["within_3_sampling_errors"]
    out = capsys.readouterr().out
    assert "CBPE estimates take the scores as calibrated probabilities, unchecked" in out
    assert "CBPE estimates missed the realised metrics by more than 3 sampling errors" in out
    assert estimated["calibration"]["source"].startswith("none")


def test_uncertainty_is_nannymls_sampling_error(model: Path) -> None:
    baseline = str(model / "baseline" / "statistics.json")
    assert main(quality_args(model, **{"--baseline-statistics": baseline})) in (0, 1)
    estimated, _ = _estimates(model)
    truth, score = over_confident(BASELINE_ROWS, 1)
    correct = truth == (score > 0.5)
    # NannyML: the reference's per-row standard deviation over sqrt(rows of the chunk).
    expected = float(np.std(correct)) / np.sqrt(WINDOW_ROWS)
    assert estimated["accuracy"]["standard_deviation"] == pytest.approx(expected, rel=1e-3)
    assert estimated["accuracy"]["sampling_error"] == estimated["accuracy"]["standard_deviation"]


def test_isotonic_map_is_monotone_and_calibrates() -> None:
    truth, score = over_confident(20000, 3)
    mapping = fit_isotonic(score, truth)
    assert np.all(np.diff(mapping.probabilities) >= 0)
    calibrated = mapping.apply(score)
    assert expected_calibration_error(truth, calibrated) < 0.02
    assert expected_calibration_error(truth, score) > 0.08
