"""Predictions out of captured outputs (CSV, JSON paths, OIP), CBPE estimates, bad values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from analyzer.__main__ import main
from analyzer.checking.quality.attributes import Attribute, MissingAttribute
from analyzer.checking.quality.estimate import compare, estimate
from analyzer.checking.quality.metrics import binary_scalars
from analyzer.checking.quality.predictions import InvalidProbability, Predictor
from analyzer.errors import ConfigError
from analyzer.results.problem import LabelValueError
from tests.analyzer.quality_data import (
    capture_file,
    label_file,
    label_lines,
    quality_args,
    scored_record,
)


def _json(document: Any) -> dict[str, str]:
    return {"data": orjson.dumps(document).decode(), "encoding": "JSON"}


def _binary(inference: str | None = None, probability: str | None = None) -> Predictor:
    return Predictor(
        "BinaryClassification",
        Attribute.parse(inference, "i") if inference else None,
        Attribute.parse(probability, "p") if probability else None,
    )


def test_csv_column_json_path_and_oip_output() -> None:
    csv = {"data": "1,0.83", "encoding": "CSV"}
    assert _binary(probability="1").predict(csv) == (1.0, 0.83)
    assert _binary(inference="0", probability="1").predict(csv) == (1.0, 0.83)
    document = {"predictions": [{"score": 0.2, "label": "1"}]}
    assert _binary(probability="predictions[0].score").predict(_json(document)) == (0.0, 0.2)
    assert _binary(inference="predictions[0].label").predict(_json(document))[0] == 1.0
    oip = {"outputs": [{"name": "p", "shape": [1], "datatype": "FP32", "data": [0.7]}]}
    assert _binary(probability="outputs[0].data[0]").predict(_json(oip)) == (1.0, 0.7)
    assert _binary(probability="0").predict(_json([[0.4, 0.6]])) == (1.0, 0.6)


def test_threshold_is_strictly_greater() -> None:
    predictor = Predictor("BinaryClassification", None, Attribute.parse("0", "p"), 0.6)
    assert predictor.predict({"data": "0.6", "encoding": "CSV"})[0] == 0.0
    assert predictor.predict({"data": "0.61", "encoding": "CSV"})[0] == 1.0


def test_multiclass_from_label_or_probability_vector() -> None:
    by_vector = Predictor("MulticlassClassification", None, Attribute.parse("probs", "p"))
    assert by_vector.predict(_json({"probs": [0.1, 0.7, 0.2]}))[0] == by_vector.label("1")
    by_label = Predictor("MulticlassClassification", Attribute.parse("0", "i"))
    assert by_label.predict({"data": "cat", "encoding": "CSV"})[0] == by_label.label("cat")
    assert by_label.label("2.0") == by_label.label(2)  # numbers compare as numbers


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ({"data": "1.5", "encoding": "CSV"}, InvalidProbability),
        ({"data": "NaN", "encoding": "CSV"}, InvalidProbability),
        ({"data": "high", "encoding": "CSV"}, LabelValueError),
        (_json({"other": 1}), MissingAttribute),
        ({"data": "%%", "encoding": "BASE64"}, MissingAttribute),
        (None, MissingAttribute),
    ],
)
def test_bad_outputs_raise_a_counted_error(output: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        _binary(probability="0").predict(output)


def test_bad_attribute_and_missing_attributes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="neither a column index"):
        Attribute.parse("predictions[x", "--probability-attribute")
    with pytest.raises(ConfigError, match="--inference-attribute"):
        Predictor("BinaryClassification")
    with pytest.raises(ConfigError, match="--probability-attribute is for classification"):
        Predictor("Regression", Attribute.parse("0", "i"), Attribute.parse("1", "p"))


def test_cbpe_estimates_calibrated_scores_and_compares_with_realised() -> None:
    generator = np.random.default_rng(11)
    scores = generator.random(20000)
    truth = (generator.random(20000) < scores).astype(np.float64)  # calibrated by construction
    predicted = (scores > 0.5).astype(np.float64)
    estimated = estimate(scores, predicted, None)
    assert estimated is not None and estimated["method"] == "CBPE"
    realised = binary_scalars(truth, predicted, scores)
    for name in ("accuracy", "precision", "recall", "f1"):
        assert estimated[name]["value"] == pytest.approx(realised[name], abs=0.02), name
    gap = compare(estimated, realised)
    assert set(gap) == {"accuracy", "precision", "recall", "f1"}
    assert gap["f1"]["difference"] == pytest.approx(
        estimated["f1"]["value"] - realised["f1"], abs=1e-12
    )


def test_multiclass_run_counts_unseen_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["label,prediction"] + [f"{c},{c}" for c in ("cat", "dog", "emu") * 10]
    (tmp_path / "val.csv").write_text("\n".join(rows) + "\n")
    assert (
        main(
            [
                *("quality-baseline", "--dataset", str(tmp_path / "val.csv")),
                *(
                    "--problem-type",
                    "MulticlassClassification",
                    "--ground-truth-attribute",
                    "label",
                ),
                *("--inference-attribute", "prediction", "--output", str(tmp_path / "baseline")),
            ]
        )
        == 0
    )
    outputs = {"r1": "cat", "r2": "dog", "r3": "emu", "r4": "cat"}
    capture_file(tmp_path, [scored_record(i, label) for i, label in outputs.items()])
    label_file(tmp_path, label_lines([("r1", "cat"), ("r2", "dog"), ("r3", "emu"), ("r4", "yak")]))
    args = quality_args(
        tmp_path,
        **{
            "--problem-type": "MulticlassClassification",
            "--inference-attribute": "0",
            "--probability-attribute": "",
            "--baseline-statistics": str(tmp_path / "baseline" / "statistics.json"),
        },
    )
    assert main(args) == 1  # accuracy 0.75 is below the baseline's 1.0
    record = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert record["counts"]["unseen_classes"] == 1
    assert "1 joined labels are of a class the baseline never saw" in capsys.readouterr().out
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    matrix = statistics["multiclass_classification_metrics"]["confusion_matrix"]
    assert matrix["yak"] == {"cat": 1, "dog": 0, "emu": 0, "yak": 0}


def test_regression_run_reads_a_json_path(tmp_path: Path) -> None:
    truth = {f"r{i}": float(i) for i in range(20)}
    guesses = {
        key: value + (0.5 if i % 2 else -1.0) for i, (key, value) in enumerate(truth.items())
    }
    capture_file(
        tmp_path,
        [scored_record(k, {"predictions": [{"value": v}]}, csv=False) for k, v in guesses.items()],
    )
    label_file(tmp_path, label_lines(list(truth.items())))
    constraints = {
        "regression_constraints": {
            "mae": {"threshold": 0.5, "comparison_operator": "GreaterThanThreshold"}
        }
    }
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "constraints.json").write_text(
        json.dumps({"version": 0.0, **constraints})
    )
    args = quality_args(
        tmp_path,
        **{
            "--problem-type": "Regression",
            "--inference-attribute": "predictions[0].value",
            "--probability-attribute": "",
        },
    )
    assert main(args) == 1
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert statistics["regression_metrics"]["mae"]["value"] == pytest.approx(0.75)
    violations = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert violations["violations"][0]["description"] == (
        "Metric mae with 0.75 was GreaterThanThreshold 0.5"
    )
