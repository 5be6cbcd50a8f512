"""The bias and attribution pages in a real headless Chromium with the network cut: they load
with no console error and no network request, and say what drifted."""

from __future__ import annotations

import json
from pathlib import Path

from analyzer.__main__ import main
from tests.analyzer.captures import ENDPOINT
from tests.analyzer.clarify import bias_data
from tests.analyzer.clarify.linear_server import LinearModel, serve
from tests.analyzer.reporting.chromium import Chromium
from tests.analyzer.reporting.test_pages_in_chromium import load

WINDOW = ["--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"]


def test_bias_and_attribution_pages(browser: Chromium, tmp_path: Path, screenshots: Path) -> None:
    dataset = bias_data.write_dataset(tmp_path / "train.csv", bias_data.rows(1, 400))
    config = dict(bias_data.ANALYSIS_CONFIG)
    config["methods"] = {
        **config["methods"],
        "shap": {"baseline": [[40, 0, 1, 50]], "num_samples": 14, "seed": 1},
    }
    (tmp_path / "analysis_config.json").write_text(json.dumps(config))
    common = ["--analysis-config", str(tmp_path / "analysis_config.json")]
    bias_data.write_window(tmp_path, bias_data.rows(2, 400, favour_sex=1))
    window = ["--captures", str(tmp_path / "capture"), "--endpoint-name", ENDPOINT, *WINDOW]
    with serve(LinearModel((0.01, 2.0, 0.1, 0.05))) as url:
        for command, extra in (
            ("bias-baseline", []),
            ("attribution-baseline", ["--model-url", url, "--max-records", "20"]),
        ):
            out = ["--output", str(tmp_path / command)]
            assert (
                main([command, "--dataset", str(dataset), "--header", *common, *extra, *out]) == 0
            )
        assert main(
            ["bias-run", *window, *common, "--ground-truth", str(tmp_path / "labels"),
             "--baseline-constraints", str(tmp_path / "bias-baseline" / "analysis.json"),
             "--output", str(tmp_path / "bias")]
        ) == 1  # fmt: skip
        assert main(
            ["attribution-run", *window, *common, "--model-url", url, "--max-records", "20",
             "--baseline-constraints", str(tmp_path / "attribution-baseline" / "analysis.json"),
             "--output", str(tmp_path / "attribution")]
        ) in (0, 1)  # fmt: skip
    bias_page = load(browser, tmp_path / "bias" / "report.html", screenshots / "bias.png")
    text = bias_page.value["text"]
    assert "Bias metrics per facet against the baseline" in text
    assert "bias_drift_check" in text and "DPPL" in text
    shap_page = load(
        browser, tmp_path / "attribution" / "report.html", screenshots / "attribution.png"
    )
    text = shap_page.value["text"]
    assert "Feature attribution ranking: baseline vs now" in text and "nDCG of label0" in text
