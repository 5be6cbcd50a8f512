"""The scheduler's `bias` and `attribution` sections: configuration, the hourly runs, their
Prometheus series."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from analyzer.__main__ import main
from analyzer.errors import ConfigError
from analyzer.scheduling.config import parse_config
from analyzer.scheduling.loop import Scheduler
from analyzer.scheduling.metrics import AnalyzerMetrics
from tests.analyzer.captures import ENDPOINT, HOUR, VARIANT
from tests.analyzer.clarify import bias_data
from tests.analyzer.clarify.linear_server import LinearModel, serve


def _config(bias: dict[str, Any] | None, attribution: dict[str, Any] | None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "name": ENDPOINT,
        "variant": VARIANT,
        "baseline_statistics": "missing/statistics.json",
        "baseline_constraints": "missing/constraints.json",
    }
    if bias:
        endpoint["bias"] = bias
    if attribution:
        endpoint["attribution"] = attribution
    return {"defaults": {"captures": "capture", "output": "reports"}, "endpoints": [endpoint]}


def test_sections_are_validated(tmp_path: Path) -> None:
    bias = {"analysis_config": "a.json", "baseline_constraints": "b.json", "label_delay": 2}
    parsed = parse_config(_config(bias, None), "monitor.yaml", base_dir=tmp_path)
    section = parsed.endpoints[0].bias
    assert section is not None and section.analysis_config == str(tmp_path / "a.json")
    assert section.label_delay_hours == 2
    with pytest.raises(ConfigError, match=r"bias\.colour: unknown key"):
        parse_config(_config({**bias, "colour": "red"}, None), "monitor.yaml")
    with pytest.raises(ConfigError, match=r"attribution\.model_url: missing"):
        parse_config(_config(None, {"analysis_config": "a", "baseline_constraints": "b"}), "m")


def test_scheduled_hour_runs_bias_and_attribution_and_exports_them(tmp_path: Path) -> None:
    table = bias_data.rows(1, 300)
    bias_data.write_dataset(tmp_path / "train.csv", table)
    bias_data.write_config(tmp_path / "analysis_config.json")
    assert main(
        [
            "bias-baseline", "--dataset", str(tmp_path / "train.csv"), "--header",
            "--analysis-config", str(tmp_path / "analysis_config.json"),
            "--output", str(tmp_path / "bias-baseline"),
        ]
    ) == 0  # fmt: skip
    bias_data.write_window(tmp_path, bias_data.rows(2, 300, favour_sex=1))
    shap = {"baseline": [[40, 0, 1, 50]], "num_samples": 14, "seed": 1}
    config = dict(bias_data.ANALYSIS_CONFIG)
    config["methods"] = {**config["methods"], "shap": shap}
    (tmp_path / "analysis_config.json").write_text(json.dumps(config))
    model = LinearModel((0.01, 2.0, 0.1, 0.05))
    with serve(model) as url:
        assert main(
            [
                "attribution-baseline", "--dataset", str(tmp_path / "train.csv"), "--header",
                "--analysis-config", str(tmp_path / "analysis_config.json"), "--model-url", url,
                "--max-records", "20", "--output", str(tmp_path / "shap-baseline"),
            ]
        ) == 0  # fmt: skip
        bias = {
            "analysis_config": "analysis_config.json",
            "baseline_constraints": "bias-baseline/analysis.json",
            "ground_truth": "labels",
            "label_delay": 0,
        }
        attribution = {
            "analysis_config": "analysis_config.json",
            "baseline_constraints": "shap-baseline/analysis.json",
            "model_url": url,
            "max_records": 20,
        }
        endpoint = parse_config(
            _config(bias, attribution), "monitor.yaml", base_dir=tmp_path
        ).endpoints[0]
        metrics = AnalyzerMetrics()
        scheduler = Scheduler(
            [endpoint],
            default_delay=timedelta(minutes=20),
            catch_up_hours=0,
            metrics=metrics,
            clock=lambda: HOUR + timedelta(hours=2),
        )
        scheduler.run_hour(endpoint, HOUR)

    def sample(name: str, **labels: str) -> float | None:
        value: float | None = metrics.registry.get_sample_value(
            name, {"endpoint": ENDPOINT, "variant": VARIANT, **labels}
        )
        return value

    folder = tmp_path / "reports" / "bias" / ENDPOINT / VARIANT / f"{HOUR:%Y/%m/%d/%H}"
    assert json.loads((folder / "execution.json").read_text())["status"] == (
        "CompletedWithViolations"
    )
    di = sample(
        "infertap_bias_metric", facet="sex", facet_value="0", stage="post_training", metric="DI"
    )
    assert di is not None and di < 0.2
    assert (sample("infertap_bias_violations") or 0) >= 2
    assert sample("infertap_bias_execution_status", status="CompletedWithViolations") == 1
    attributed = tmp_path / "reports" / "attribution" / ENDPOINT / VARIANT / f"{HOUR:%Y/%m/%d/%H}"
    record = json.loads((attributed / "execution.json").read_text())
    assert record["status"] == "Completed" and record["rows_explained"] == 20
    assert sample("infertap_feature_attribution_execution_status", status="Completed") == 1
    ndcg = sample("infertap_feature_attribution_ndcg", label="label0")
    assert ndcg is not None and ndcg > 0.9
    # The history pages of both monitors draw their headline numbers hour by hour.
    for kind, series in (("bias", "DI sex=0"), ("attribution", "nDCG label0")):
        out = tmp_path / "history" / kind
        reports = str(tmp_path / "reports" / kind)
        assert main(["report", "--reports", reports, "--endpoint-name", ENDPOINT,
                     "--output", str(out)]) == 0  # fmt: skip
        page = (out / "history.html").read_text()
        assert "Model quality, bias and attribution over time" in page and series in page
    sex = sample("infertap_feature_attribution", label="label0", feature="sex")
    age = sample("infertap_feature_attribution", label="label0", feature="age")
    assert sex is not None and age is not None and sex > age > 0
