"""The scheduler's model-quality section: configuration, the hourly run, its Prometheus series."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from analyzer.errors import ConfigError
from analyzer.scheduling.config import parse_config
from analyzer.scheduling.loop import Scheduler
from analyzer.scheduling.metrics import AnalyzerMetrics
from tests.analyzer.captures import ENDPOINT, HOUR, VARIANT
from tests.analyzer.quality_data import (
    LABEL_HOUR,
    capture_file,
    label_file,
    label_lines,
    scored_record,
)
from tests.analyzer.test_quality_run import ROWS, _baseline, _score, _truth


def _config(root: Path, **quality: object) -> dict[str, object]:
    section = {
        "ground_truth": "labels",
        "baseline_constraints": "baseline/constraints.json",
        "problem_type": "BinaryClassification",
        "probability_attribute": "0",
        "label_delay": 3,
        **quality,
    }
    return {
        "defaults": {"captures": "capture", "output": "reports"},
        "endpoints": [
            {
                "name": ENDPOINT,
                "variant": VARIANT,
                "baseline_statistics": "missing/statistics.json",
                "baseline_constraints": "missing/constraints.json",
                "model_quality": section,
            }
        ],
    }


def test_model_quality_section_is_validated(tmp_path: Path) -> None:
    parsed = parse_config(_config(tmp_path), "monitor.yaml", base_dir=tmp_path)
    quality = parsed.endpoints[0].model_quality
    assert quality is not None and quality.label_delay_hours == 3
    assert quality.ground_truth == str(tmp_path / "labels")
    with pytest.raises(ConfigError, match=r"model_quality\.problem_type: must be one of"):
        parse_config(_config(tmp_path, problem_type="Ranking"), "monitor.yaml")
    with pytest.raises(ConfigError, match=r"model_quality\.colour: unknown key"):
        parse_config(_config(tmp_path, colour="red"), "monitor.yaml")


def test_scheduled_hour_runs_model_quality_and_exports_it(tmp_path: Path) -> None:
    _baseline(tmp_path)
    capture_file(tmp_path, [scored_record(f"r{i}", str(_score(i))) for i in range(ROWS)])
    label_file(tmp_path, label_lines([(f"r{i}", _truth(i)) for i in range(ROWS - 50)]))
    endpoint = parse_config(_config(tmp_path), "monitor.yaml", base_dir=tmp_path).endpoints[0]
    metrics = AnalyzerMetrics()
    scheduler = Scheduler(
        [endpoint],
        default_delay=timedelta(minutes=20),
        catch_up_hours=0,
        metrics=metrics,
        clock=lambda: LABEL_HOUR + timedelta(hours=1),
    )
    scheduler.run_hour(endpoint, HOUR + timedelta(hours=3))  # model quality of HOUR

    folder = tmp_path / "reports" / "model-quality" / ENDPOINT / VARIANT / f"{HOUR:%Y/%m/%d/%H}"
    record = json.loads((folder / "execution.json").read_text())
    assert record["counts"]["joined"] == ROWS - 50

    def sample(name: str, **labels: str) -> float | None:
        value: float | None = metrics.registry.get_sample_value(
            name, {"endpoint": ENDPOINT, "variant": VARIANT, **labels}
        )
        return value

    accuracy = record["metrics"]["accuracy"]
    assert sample("infertap_model_quality_metric", metric="accuracy") == accuracy
    assert sample("infertap_model_quality_metric_threshold", metric="accuracy") == pytest.approx(
        0.9
    )
    assert sample("infertap_model_quality_violations") == record["violations"]
    assert sample("infertap_model_quality_metric", metric="estimated_accuracy") is not None
    assert sample("infertap_model_quality_label_coverage_ratio") == pytest.approx(0.8)
    assert sample("infertap_model_quality_label_delay_seconds") == 3 * 3600
    assert sample("infertap_model_quality_execution_status", status=record["status"]) == 1
