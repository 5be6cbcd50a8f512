"""The data behind each chart, checked against the statistics files it was computed from, and
pages from bad input (Failed runs, NaN/inf statistics, features absent from the baseline,
thousands of features, an unwritable folder)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from analyzer.__main__ import main
from analyzer.checking import drift
from analyzer.profiling import kll
from analyzer.reporting.baseline_files import load_statistics
from analyzer.reporting.html import history_model, history_sources, quality_model
from analyzer.reporting.html.run_model import build_run_page
from analyzer.reporting.html.run_page import render_run_report, write_run_report
from analyzer.reporting.html.sources import QualityReport, RunReport, read_run
from tests.analyzer.reporting.conftest import DRIFT_FROM, EMPTY_HOUR, HOURS, hour_folder
from tests.conftest import SHARED_DATA, S3Server


def data_run(folder: Path | str) -> RunReport:
    report = read_run(str(folder))
    assert isinstance(report, RunReport)
    return report


def quality_run(folder: Path) -> QualityReport:
    report = read_run(str(folder))
    assert isinstance(report, QualityReport)
    return report


def test_numeric_chart_data_is_the_sketches(history_root: Path) -> None:
    folder = hour_folder(history_root, HOURS - 1)
    execution = json.loads((folder / "execution.json").read_text())
    baseline = load_statistics(execution["baseline_statistics"])
    current = load_statistics(str(folder / "statistics.json"))
    page = build_run_page(data_run(str(folder)))
    view = next(v for v in page.features if v.name == "f002")
    data = view.numeric
    assert data is not None
    base, cur = baseline.feature("f002"), current.feature("f002")
    assert base is not None and cur is not None
    a = kll.WeightedSamples.from_levels(base.kll_sketch)
    b = kll.WeightedSamples.from_levels(cur.kll_sketch)
    # Shares per shared bin: the sketch's weight in each bin over its total.
    buckets = kll.equal_width_buckets(a, data.edges[0], data.edges[-1], len(data.edges) - 1)
    assert data.baseline_share == pytest.approx([x.count / a.n for x in buckets], abs=1e-12)
    assert sum(data.current_share) == pytest.approx(1.0)
    assert data.edges[0] == min(base.min or 0, cur.min or 0)
    assert data.edges[-1] == max(base.max or 0, cur.max or 0)
    # The CDFs and the gap: exactly the L-infinity distance the drift check starts from...
    assert data.baseline_cdf == pytest.approx(a.cdf(data.grid).tolist(), abs=1e-12)
    assert data.gap == pytest.approx(kll.linf_distance(a, b), abs=1e-12)
    # ... and, after the baseline's Robust adjustment, the distance execution.json recorded.
    robust = drift.robust(data.gap, a.n, b.n)  # type: ignore[arg-type]
    assert robust == pytest.approx(execution["feature_drift"]["f002"], abs=1e-12)
    assert view.drift == execution["feature_drift"]["f002"] and view.drifted


def test_categorical_chart_data_is_the_buckets(history_root: Path) -> None:
    folder = hour_folder(history_root, HOURS - 1)
    current = load_statistics(str(folder / "statistics.json"))
    page = build_run_page(data_run(str(folder)))
    view = next(v for v in page.features if v.name == "segment")
    data = view.categorical
    assert data is not None
    feature = current.feature("segment")
    assert feature is not None
    total = sum(b.count for b in feature.categorical_buckets)
    expected = {b.value: b.count / total for b in feature.categorical_buckets}
    assert dict(zip(data.categories, data.current_share, strict=True)) == pytest.approx(expected)
    execution = json.loads((folder / "execution.json").read_text())
    baseline = load_statistics(execution["baseline_statistics"]).feature("segment")
    assert baseline is not None
    assert data.gap == pytest.approx(drift.categorical_distance(baseline, feature), abs=1e-12)


def test_violations_worst_first_and_clean_features_folded(history_root: Path) -> None:
    page = build_run_page(data_run(str(hour_folder(history_root, HOURS - 1))))
    assert [(f.check, f.feature) for f in page.findings] == [
        ("completeness_check", "f003"),
        ("baseline_drift_check", "f002"),  # the larger excess over the threshold first
        ("baseline_drift_check", "segment"),
    ]
    assert [v.name for v in page.features] == ["f003", "f002", "segment"]
    assert [v.name for v in page.clean] == ["prediction", "f001", "f004", "f005"]
    assert [name for name, _, _ in page.drift_overview] == ["f002", "segment"]


def test_failed_run_page_says_why_and_shows_no_features(history_root: Path) -> None:
    page = build_run_page(data_run(str(hour_folder(history_root, EMPTY_HOUR))))
    assert page.status == "Failed"
    assert page.failure_reason is not None and "no capture files" in page.failure_reason
    assert page.features == page.clean == [] and not page.has_statistics
    assert page.problems == []  # the missing statistics are explained by the failure


def test_run_writes_report_html_beside_its_json_files(history_root: Path) -> None:
    for index in range(HOURS):
        folder = hour_folder(history_root, index)
        html = (folder / "report.html").read_text()
        assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
        status = json.loads((folder / "execution.json").read_text())["status"]
        assert f'class="status status-{status}"' in html


def _write_run(folder: Path, baseline: dict[str, object], current: dict[str, object]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "baseline.json").write_text(json.dumps(baseline))
    (folder / "statistics.json").write_text(json.dumps(current))
    (folder / "constraint_violations.json").write_text('{"violations": []}')
    execution = {"status": "Completed", "baseline_statistics": str(folder / "baseline.json"),
                 "baseline_constraints": str(folder / "missing-constraints.json")}  # fmt: skip
    (folder / "execution.json").write_text(json.dumps(execution))


def _numeric(name: str, values: list[float], mean: float | None = None) -> dict[str, object]:
    finite = [v for v in values if math.isfinite(v)]
    return {
        "name": name,
        "inferred_type": "Fractional",
        "numerical_statistics": {
            "common": {"num_present": len(values), "num_missing": 0},
            "mean": mean if mean is not None else float(np.mean(finite)),
            "sum": float(np.sum(finite)), "std_dev": 1.0,
            "min": min(finite), "max": max(finite),
            "distribution": {"kll": {"buckets": [], "sketch": {
                "parameters": {"c": 0.64, "k": 2048.0}, "data": [values]}}},
        },
    }  # fmt: skip


def test_nan_inf_and_features_absent_from_the_baseline(tmp_path: Path) -> None:
    baseline = {"version": 0.0, "dataset": {"item_count": 4},
                "features": [_numeric("a", [1.0, 2.0, 3.0, 4.0])]}  # fmt: skip
    current = {"version": 0.0, "dataset": {"item_count": 4}, "features": [
        _numeric("a", [1.0, float("nan"), float("inf"), 9.0], mean=float("nan")),
        _numeric("new", [5.0, 6.0]),
    ]}  # fmt: skip
    _write_run(tmp_path, baseline, current)
    page = build_run_page(data_run(str(tmp_path)))
    views = {v.name: v for v in page.clean}
    assert views["a"].numeric is not None and views["a"].numeric.left_out == 2
    assert "2 non-finite sketch values (NaN or ±inf) not drawn" in views["a"].notes
    # statistics.json's NaN mean is read as absent (as every statistics file is read).
    assert ("mean", "2.5", "-") in views["a"].summary
    assert views["new"].notes == ["absent from the baseline: nothing to compare it with"]
    assert any("missing-constraints.json" in problem for problem in page.problems)
    html = render_run_report(read_run(str(tmp_path)))
    assert "absent from the baseline" in html and "not drawn" in html


def test_thousands_of_features_page_says_which_charts_it_left_out(tmp_path: Path) -> None:
    features = [_numeric(f"x{i:04d}", [float(i), float(i + 1)]) for i in range(3000)]
    document = {"version": 0.0, "dataset": {"item_count": 2}, "features": features}
    _write_run(tmp_path, document, document)
    html = render_run_report(read_run(str(tmp_path)), chart_budget=3)
    assert html.count("<svg") == 3
    assert html.count("Chart left out: this page draws at most 3 feature charts") == 2997
    assert "Features without findings (3000)" in html


def test_report_failure_never_fails_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    page = write_run_report(read_run(str(blocker)))
    assert page.problem is not None and page.url == f"{blocker}/report.html"


def test_model_quality_data(tmp_path: Path) -> None:
    raw = json.loads((SHARED_DATA / "sagemaker-model-quality-statistics-example.json").read_text())
    raw["estimated_binary_classification_metrics"] = {"accuracy": 0.61, "auc": "NaN"}
    (tmp_path / "statistics.json").write_text(json.dumps(raw))
    constraints = {"binary_classification_constraints": {
        "precision": {"threshold": 0.5, "comparison_operator": "LessThanThreshold"},
        "false_positive_rate": {"threshold": 0.7, "comparison_operator": "GreaterThanThreshold"},
    }}  # fmt: skip
    (tmp_path / "c.json").write_text(json.dumps(constraints))
    (tmp_path / "execution.json").write_text(
        json.dumps({"status": "Completed", "baseline_constraints": str(tmp_path / "c.json")})
    )
    page = quality_model.build_quality_page(quality_run(tmp_path))
    metrics = raw["binary_classification_metrics"]
    assert page.labels == ["0", "1"] and page.matrix == [[1, 2], [0, 1]]  # actual -> predicted
    roc = metrics["receiver_operating_characteristic_curve"]
    assert page.roc == (roc["false_positive_rates"], roc["true_positive_rates"])
    pr = metrics["precision_recall_curve"]
    assert page.pr == (pr["recalls"], pr["precisions"])
    by_name = {m.name: m for m in page.metrics}
    assert "accuracy_best_constant_classifier" not in by_name
    assert by_name["accuracy"].best_constant == 0.25
    assert by_name["precision"].violated and by_name["precision"].threshold == 0.5
    assert not by_name["false_positive_rate"].violated  # 0.667 is not greater than 0.7
    assert by_name["f1"].standard_deviation is not None
    assert math.isnan(by_name["f1"].standard_deviation)  # "NaN" below 200 rows
    assert page.metrics[0].name == "precision"  # violated first
    assert page.estimates == [("accuracy", 0.61, 0.5)]  # NaN estimates are left out


def test_history_data_is_the_execution_records(history_root: Path) -> None:
    history = history_sources.read_history(str(history_root), "churn", "AllTraffic", None, None)
    page = history_model.build_history_page(history, "churn", "AllTraffic")
    assert [r.status for r in page.rows] == [
        "Completed", "Completed", "Failed", "Completed", "CompletedWithViolations",
        "CompletedWithViolations",
    ][:HOURS]  # fmt: skip
    for run in history.runs:
        for feature, distance in run.execution["feature_drift"].items():
            assert (run.hour, distance) in page.drift[feature]
    assert page.drift_threshold == 0.1
    assert page.drifted == ["f002", "segment"]
    assert all(h >= DRIFT_FROM for h, d in ((r.hour.hour, 0) for r in page.rows if r.violations))


def test_history_and_run_pages_from_s3(
    history_root: Path, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    """The scheduler's layout in a bucket: `report --reports s3://…`, and a page written there."""
    client = s3_server.client()
    for path in history_root.rglob("*.json"):
        key = f"monitoring/{path.relative_to(history_root)}"
        client.put_object(Bucket=s3_bucket, Key=key, Body=path.read_bytes())
    reports = f"s3://{s3_bucket}/monitoring"
    code = main(["report", "--reports", reports, "--endpoint-name", "churn",
                 "--output", f"{reports}/pages"])  # fmt: skip
    assert code == 0
    html = client.get_object(Bucket=s3_bucket, Key="monitoring/pages/history.html")["Body"].read()
    assert f"{HOURS} hourly runs".encode() in html
    assert b"Features over the drift threshold at least once: <strong>f002</strong>" in html
    hour = hour_folder(Path("monitoring"), HOURS - 1)
    written = write_run_report(read_run(f"s3://{s3_bucket}/{hour}"))
    assert written.problem is None and written.url == f"s3://{s3_bucket}/{hour}/report.html"
    page = client.get_object(Bucket=s3_bucket, Key=f"{hour}/report.html")["Body"].read()
    assert b"CompletedWithViolations" in page and b"f002" in page


def test_report_command_without_runs_or_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", "--reports", str(tmp_path / "empty"), "--endpoint-name", "churn",
                 "--output", str(tmp_path / "out")])  # fmt: skip
    assert code == 0
    html = (tmp_path / "out" / "history.html").read_text()
    assert "no runs (no execution.json) under" in html and "0 hourly runs" in html
    assert main(["report", "--endpoint-name", "churn", "--output", str(tmp_path)]) == 2
    assert "--reports is required (or set INFERTAP_REPORTS)" in capsys.readouterr().err


def test_history_of_model_quality_runs(tmp_path: Path) -> None:
    """Hourly quality-run folders: each metric over time, with its threshold."""
    raw = json.loads((SHARED_DATA / "sagemaker-model-quality-statistics-example.json").read_text())
    constraints = {"binary_classification_constraints": {
        "f2": {"threshold": 0.6, "comparison_operator": "LessThanThreshold"}}}  # fmt: skip
    (tmp_path / "constraints.json").write_text(json.dumps(constraints))
    for index, f2 in enumerate([0.7, 0.65, 0.5]):
        folder = hour_folder(tmp_path / "reports", index)
        folder.mkdir(parents=True)
        raw["binary_classification_metrics"]["f2"]["value"] = f2
        (folder / "statistics.json").write_text(json.dumps(raw))
        execution = {
            "status": "Completed",
            "baseline_constraints": str(tmp_path / "constraints.json"),
        }
        (folder / "execution.json").write_text(json.dumps(execution))
    history = history_sources.read_history(
        str(tmp_path / "reports"), "churn", "AllTraffic", None, None
    )
    page = history_model.build_history_page(history, "churn", "AllTraffic")
    assert [value for _, value in page.quality["f2"]] == [0.7, 0.65, 0.5]
    assert page.quality_thresholds["f2"] == (0.6, "LessThanThreshold")
    assert (
        "f2_best_constant_classifier" not in page.quality and "confusion_matrix" not in page.quality
    )
    assert page.drift == {} and page.missing_hours == []
