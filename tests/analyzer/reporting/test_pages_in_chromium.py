"""The pages in a real headless Chromium with the network cut: they load with no console error
and no network request, draw their charts and name what went wrong; screenshots are written to
test-screenshots/ for a person to look at."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from analyzer.__main__ import main
from analyzer.reporting.html.run_page import write_run_report
from analyzer.reporting.html.sources import read_run
from tests.analyzer.reporting.chromium import Chromium, PageLoad
from tests.analyzer.reporting.conftest import EMPTY_HOUR, HOURS, hour_folder
from tests.conftest import SHARED_DATA

# Every chart drawn: an <svg> in a figure.chart with a visible, non-empty box and drawn paths.
CHARTS = """(() => {
  const all = [...document.querySelectorAll('figure.chart svg')];
  const drawn = all.filter(svg => {
    const box = svg.getBoundingClientRect();
    const folded = svg.closest('details:not([open])');
    return svg.querySelectorAll('path').length > 3 && (box.width > 100 || folded);
  });
  return {charts: all.length, drawn: drawn.length, text: document.body.innerText,
          declared: Number(document.querySelector('main').dataset.charts)};
})()"""


def load(browser: Chromium, page: Path, shot: Path) -> PageLoad:
    loaded = browser.load(page, evaluate=CHARTS, screenshot=shot)
    assert loaded.errors == [], loaded.errors
    assert loaded.remote_requests == [], loaded.remote_requests
    assert shot.stat().st_size > 10_000  # a real picture, not a blank page
    return loaded


def test_the_network_is_cut_and_requests_are_seen(browser: Chromium, tmp_path: Path) -> None:
    """The checks below are not vacuous: a page reaching out is caught, and gets nothing."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><img src="http://example.invalid/x.png" '
        "onerror=\"document.body.dataset.failed='1'\"><p>leaky</p>"
    )
    loaded = browser.load(page, ready="document.body.dataset.failed === '1'")
    assert loaded.remote_requests == ["http://example.invalid/x.png"]


def test_drifted_hour_names_its_drifted_features_first(
    browser: Chromium, history_root: Path, screenshots: Path
) -> None:
    folder = hour_folder(history_root, HOURS - 1)
    assert sorted(p.name for p in folder.iterdir()) == [
        "constraint_violations.json", "execution.json", "report.html", "statistics.json",
    ]  # fmt: skip
    loaded = load(browser, folder / "report.html", screenshots / "run-drifted.png")
    value = loaded.value
    # The drift overview + one chart per column (prediction, f001..f005, segment).
    assert value["charts"] == value["declared"] == 8
    assert value["drawn"] == value["charts"]
    text = value["text"]
    assert "CompletedWithViolations" in text
    violations = text.split("Violations (3)")[1].split("Drift distance per feature")[0]
    # Worst first: incomplete data before drift.
    assert violations.index("f003") < violations.index("f002")
    assert "baseline_drift_check" in violations and "segment" in violations
    assert "Features without findings (4)" in text


def test_failed_hour_says_why(browser: Chromium, history_root: Path, screenshots: Path) -> None:
    folder = hour_folder(history_root, EMPTY_HOUR)
    loaded = load(browser, folder / "report.html", screenshots / "run-failed.png")
    text = loaded.value["text"]
    assert "Failed" in text
    assert "Why the run failed: no capture files under" in text
    assert loaded.value["charts"] == 0


def test_history_page(
    browser: Chromium, history_root: Path, tmp_path: Path, screenshots: Path
) -> None:
    reports = shutil.copytree(history_root, tmp_path / "reports")
    shutil.rmtree(hour_folder(reports, 1))  # an hour the scheduler never ran
    code = main(
        ["report", "--reports", str(reports), "--endpoint-name", "churn",
         "--output", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    loaded = load(browser, tmp_path / "history.html", screenshots / "history.png")
    text = loaded.value["text"]
    assert f"{HOURS - 1} hourly runs" in text
    assert "1 hour without a run" in text and "2026-11-25 01:00" in text
    assert "Features over the drift threshold at least once: f002, segment" in text
    # The status chart and one drift-over-time chart per drifted feature.
    assert loaded.value["charts"] == loaded.value["drawn"] == 3


def test_model_quality_page(browser: Chromium, tmp_path: Path, screenshots: Path) -> None:
    """A quality run's files in SageMaker's layout (quality-run writes them)."""
    statistics = json.loads(
        (SHARED_DATA / "sagemaker-model-quality-statistics-example.json").read_text()
    )
    statistics["estimated_binary_classification_metrics"] = {"accuracy": 0.61, "f1": 0.55}
    (tmp_path / "statistics.json").write_text(json.dumps(statistics))
    constraints = {"version": 0.0, "binary_classification_constraints": {
        "f2": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"},
        "false_positive_rate": {"threshold": 0.7, "comparison_operator": "GreaterThanThreshold"},
    }}  # fmt: skip
    (tmp_path / "constraints.json").write_text(json.dumps(constraints))
    violation = {
        "constraint_check_type": "LessThanThreshold",
        "metric_name": "f2",
        "description": "Metric f2 with 0.71428571428571 was LessThanThreshold 0.8",
    }
    (tmp_path / "constraint_violations.json").write_text(json.dumps({"violations": [violation]}))
    execution = {
        "status": "CompletedWithViolations",
        "endpoint_name": "churn",
        "variant_name": "AllTraffic",
        "baseline_constraints": str(tmp_path / "constraints.json"),
    }
    (tmp_path / "execution.json").write_text(json.dumps(execution))
    assert write_run_report(read_run(str(tmp_path))).problem is None
    loaded = load(browser, tmp_path / "report.html", screenshots / "model-quality.png")
    # Metrics against thresholds, confusion matrix, ROC, PR, estimated vs realised.
    assert loaded.value["charts"] == loaded.value["drawn"] == 5
    text = loaded.value["text"]
    assert "Metric f2 with 0.71428571428571 was LessThanThreshold 0.8" in text
    assert "LessThanThreshold 0.8" in text and "GreaterThanThreshold 0.7" in text
