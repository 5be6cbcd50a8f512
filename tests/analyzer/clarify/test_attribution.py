"""attribution-baseline / attribution-run: Kernel SHAP of a real model over HTTP, equal to shap
run directly and to the known answer of a linear model; nDCG drift, the call budget, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.__main__ import main
from analyzer.clarify import drift
from sidecar.common.record import Payload, build_record
from tests.analyzer.captures import ENDPOINT, HOUR, write_local
from tests.analyzer.clarify.linear_server import LinearModel, serve

FEATURES = ["a", "b", "c", "d"]
WEIGHTS = (3.0, -2.0, 0.5, 0.0)
CONFIG: dict[str, Any] = {
    "version": "1.0",
    "headers": ["target", *FEATURES],
    "label": "target",
    "methods": {"shap": {"baseline": [[0, 0, 0, 0]], "num_samples": 14, "seed": 3}},
    "predictor": {"content_type": "text/csv", "accept_type": "text/csv"},
}


def _rows(seed: int, size: int, scale: tuple[float, ...] = (1, 1, 1, 1)) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    rows: np.ndarray[Any, Any] = np.round(rng.normal(0, 1, (size, 4)) * np.asarray(scale), 4)
    return rows


def _files(root: Path, rows: np.ndarray[Any, Any], config: dict[str, Any] = CONFIG) -> None:
    (root / "analysis_config.json").write_text(json.dumps(config))
    lines = ["target," + ",".join(FEATURES)] + ["0," + ",".join(map(str, r)) for r in rows]
    (root / "train.csv").write_text("\n".join(lines) + "\n")


def _baseline(root: Path, url: str, *extra: str) -> int:
    return main(
        [
            "attribution-baseline", "--dataset", str(root / "train.csv"), "--header",
            "--analysis-config", str(root / "analysis_config.json"), "--model-url", url,
            "--output", str(root / "baseline"), *extra,
        ]
    )  # fmt: skip


def _run(root: Path, url: str, *extra: str) -> int:
    return main(
        [
            "attribution-run", "--captures", str(root / "capture"), "--endpoint-name", ENDPOINT,
            "--analysis-config", str(root / "analysis_config.json"), "--model-url", url,
            "--baseline-constraints", str(root / "baseline" / "analysis.json"),
            "--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z",
            "--output", str(root / "out"), *extra,
        ]
    )  # fmt: skip


def _captures(root: Path, rows: np.ndarray[Any, Any]) -> None:
    lines = [
        build_record(
            inference_time=HOUR,
            request=Payload("text/csv", ",".join(map(str, row)).encode()),
            response=Payload("text/csv", b"0.5"),
        )
        for row in rows
    ]
    write_local(root / "capture", HOUR, lines)


def _global(path: Path) -> dict[str, float]:
    document = json.loads(path.read_text())
    values: dict[str, float] = document["explanations"]["kernel_shap"]["label0"][
        "global_shap_values"
    ]
    return values


def test_global_shap_equals_shap_run_directly_and_the_known_answer(tmp_path: Path) -> None:
    import shap

    rows = _rows(1, 40)
    _files(tmp_path, rows)
    model = LinearModel(WEIGHTS)
    with serve(model) as url:
        assert _baseline(tmp_path, url, "--max-records", "40") == 0
    ours = _global(tmp_path / "baseline" / "analysis.json")
    # The oracle: shap's KernelExplainer on the same function, in process, seeded alike.
    np.random.seed(3)
    explainer = shap.KernelExplainer(model.score, np.zeros((1, 4)))
    direct = np.vstack([explainer.shap_values(r[None, :], nsamples=14, silent=True) for r in rows])
    expected = np.abs(direct).mean(axis=0)
    known = np.abs(rows * np.asarray(WEIGHTS)).mean(axis=0)  # linear: phi_i = w_i x_i
    for number, name in enumerate(FEATURES):
        assert ours[name] == pytest.approx(expected[number], abs=1e-9)
        assert ours[name] == pytest.approx(known[number], abs=1e-9)
    document = json.loads((tmp_path / "baseline" / "analysis.json").read_text())
    assert document["explanations"]["kernel_shap"]["label0"]["expected_value"] == pytest.approx(0.1)
    # 1 call on the SHAP baseline, then per row: the row, and its 14 coalitions.
    assert model.calls == 1 + 40 * 2


def test_a_window_whose_inputs_change_the_ranking_is_a_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _files(tmp_path, _rows(1, 30))
    with serve(LinearModel(WEIGHTS)) as url:
        assert _baseline(tmp_path, url) == 0
        _captures(tmp_path, _rows(2, 30))
        assert _run(tmp_path, url) == 0
        clean = json.loads((tmp_path / "out" / "execution.json").read_text())
        # Feature a goes quiet and c speaks up: c now drives the score.
        _captures(tmp_path, _rows(3, 300, scale=(0.01, 1, 20, 1)))
        assert _run(tmp_path, url, "--max-records", "30") == 1
    assert clean["status"] == "Completed" and clean["ndcg"]["label0"] > 0.9
    found = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    (violation,) = found["violations"]
    assert violation["label"] == "label0" and violation["metric_name"] == "shap"
    assert violation["constraint_check_type"] == "feature_attribution_drift_check"
    assert violation["description"].startswith("Feature attribution drift 0.")
    execution = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert execution["rows_explained"] == 30 and execution["counts"]["captures"] == 30 + 300
    assert "model calls" in capsys.readouterr().out
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Feature attribution ranking: baseline vs now" in page
    assert page.index('data-feature="c"') < page.index('data-feature="a"')  # c ranks first now


def test_ndcg_is_sagemakers_and_sklearns() -> None:
    from sklearn.metrics import ndcg_score

    baseline = {"a": 0.7, "b": 0.5, "c": 0.05}
    live = {"a": 0.1, "b": 0.2, "c": 0.7}
    want = ndcg_score([list(baseline.values())], [list(live.values())])
    assert drift.ndcg(baseline, live) == pytest.approx(want, abs=1e-12)
    assert drift.ndcg(baseline, baseline) == 1.0


def test_the_call_budget_is_printed_and_capped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _files(tmp_path, _rows(1, 20))
    model = LinearModel(WEIGHTS)
    with serve(model) as url:
        assert _baseline(tmp_path, url, "--max-model-calls", "11") == 0
        printed = capsys.readouterr()
        assert "Kernel SHAP: 5 rows x 14 samples: 11 model calls" in printed.out
        assert "20 rows x 14 samples: 41 model calls would pass --max-model-calls 11" in printed.out
        assert model.calls == 11
        assert _baseline(tmp_path, url, "--max-model-calls", "2") == 2
    assert "not one row fits" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "cause"),
    [
        (LinearModel(WEIGHTS, fail_with=503), "HTTP 503: model exploded"),
        (LinearModel(WEIGHTS, delay=2.0), "TimeoutError"),
    ],
)
def test_a_failing_model_fails_the_run_naming_the_cause(
    tmp_path: Path, model: LinearModel, cause: str
) -> None:
    _files(tmp_path, _rows(1, 5))
    with serve(model) as url:
        assert _baseline(tmp_path, url, "--model-timeout", "0.5") == 2
    execution = json.loads((tmp_path / "baseline" / "execution.json").read_text())
    assert execution["status"] == "Failed" and cause in execution["failure_reason"]
    assert model.calls == 3  # retried twice
    assert not (tmp_path / "baseline" / "analysis.json").exists()


def test_json_answers_are_read_at_the_configs_probability_path(tmp_path: Path) -> None:
    config = dict(CONFIG)
    config["predictor"] = {
        "content_type": "text/csv",
        "accept_type": "application/json",
        "probability": "predictions[*].score",
    }
    rows = _rows(1, 10)
    _files(tmp_path, rows, config)
    with serve(LinearModel(WEIGHTS, answer="json")) as url:
        assert _baseline(tmp_path, url) == 0
    known = np.abs(rows * np.asarray(WEIGHTS)).mean(axis=0)
    ours = _global(tmp_path / "baseline" / "analysis.json")
    assert [ours[f] for f in FEATURES] == pytest.approx(known.tolist(), abs=1e-9)
