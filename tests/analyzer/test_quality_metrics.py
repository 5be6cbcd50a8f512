"""Model-quality metrics against scikit-learn (to 1e-9) and SageMaker's published example."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from analyzer.checking.quality.statistics import quality_statistics
from analyzer.reporting.quality_files import document_bytes
from tests.conftest import SHARED_DATA

TOLERANCE = 1e-9


def _value(body: dict[str, Any], name: str) -> float:
    return float(body[name]["value"])


def _binary(seed: int, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    truth = generator.integers(0, 2, rows).astype(np.float64)
    scores = np.clip(truth * 0.35 + generator.random(rows) * 0.65, 0, 1).round(3)
    return truth, (scores > 0.5).astype(np.float64), scores


@pytest.mark.parametrize(("seed", "rows"), [(1, 37), (2, 250), (3, 5000)])
def test_binary_metrics_equal_scikit_learn(seed: int, rows: int) -> None:
    truth, predicted, scores = _binary(seed, rows)
    body = quality_statistics("BinaryClassification", truth, predicted, scores)[
        "binary_classification_metrics"
    ]
    expected = {
        "recall": skm.recall_score(truth, predicted),
        "precision": skm.precision_score(truth, predicted),
        "accuracy": skm.accuracy_score(truth, predicted),
        "true_positive_rate": skm.recall_score(truth, predicted),
        "true_negative_rate": skm.recall_score(truth, predicted, pos_label=0),
        "false_positive_rate": 1 - skm.recall_score(truth, predicted, pos_label=0),
        "false_negative_rate": 1 - skm.recall_score(truth, predicted),
        "auc": skm.roc_auc_score(truth, scores),
        "f0_5": skm.fbeta_score(truth, predicted, beta=0.5),
        "f1": skm.f1_score(truth, predicted),
        "f2": skm.fbeta_score(truth, predicted, beta=2),
    }
    always_positive = np.ones_like(truth)
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        expected[f"{name}_best_constant_classifier"] = skm.fbeta_score(
            truth, always_positive, beta=beta
        )
    expected["precision_best_constant_classifier"] = skm.precision_score(truth, always_positive)
    expected["recall_best_constant_classifier"] = skm.recall_score(truth, always_positive)
    expected["accuracy_best_constant_classifier"] = skm.accuracy_score(truth, always_positive)
    for name, value in expected.items():
        assert _value(body, name) == pytest.approx(value, abs=TOLERANCE), name
    tn, fp, fn, tp = skm.confusion_matrix(truth, predicted).ravel()
    assert body["confusion_matrix"] == {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}


def test_binary_curves_equal_scikit_learn() -> None:
    truth, predicted, scores = _binary(4, 300)
    body = quality_statistics("BinaryClassification", truth, predicted, scores)[
        "binary_classification_metrics"
    ]
    fpr, tpr, _ = skm.roc_curve(truth, scores, drop_intermediate=False)
    roc = body["receiver_operating_characteristic_curve"]
    np.testing.assert_allclose(roc["false_positive_rates"], fpr, atol=TOLERANCE)
    np.testing.assert_allclose(roc["true_positive_rates"], tpr, atol=TOLERANCE)
    precision, recall, _ = skm.precision_recall_curve(truth, scores)
    pr = body["precision_recall_curve"]
    # scikit-learn lists the points by falling recall; SageMaker's file by rising recall.
    np.testing.assert_allclose(pr["precisions"], precision[::-1], atol=TOLERANCE)
    np.testing.assert_allclose(pr["recalls"], recall[::-1], atol=TOLERANCE)


def test_curves_are_thinned_but_keep_their_ends() -> None:
    truth, predicted, scores = _binary(5, 20000)
    scores = np.random.default_rng(5).random(truth.size)
    body = quality_statistics("BinaryClassification", truth, predicted, scores)[
        "binary_classification_metrics"
    ]
    roc = body["receiver_operating_characteristic_curve"]
    assert len(roc["false_positive_rates"]) == 1001
    assert roc["false_positive_rates"][0] == 0 and roc["false_positive_rates"][-1] == 1
    assert _value(body, "auc") == pytest.approx(skm.roc_auc_score(truth, scores), abs=TOLERANCE)


@pytest.mark.parametrize(("seed", "rows"), [(6, 50), (7, 1200)])
def test_multiclass_metrics_equal_scikit_learn(seed: int, rows: int) -> None:
    generator = np.random.default_rng(seed)
    names = ["cat", "dog", "emu", "fox"]
    truth = generator.integers(0, 4, rows).astype(np.float64)
    noise = generator.integers(0, 4, rows)
    predicted = np.where(generator.random(rows) < 0.6, truth, noise).astype(np.float64)
    predicted[predicted == 3] = 2  # "fox" is never predicted: zero_division applies
    body = quality_statistics("MulticlassClassification", truth, predicted, predicted, names)[
        "multiclass_classification_metrics"
    ]
    assert _value(body, "accuracy") == pytest.approx(skm.accuracy_score(truth, predicted))
    for name, score in (
        ("weighted_recall", skm.recall_score(truth, predicted, average="weighted")),
        ("weighted_precision", skm.precision_score(truth, predicted, average="weighted")),
        ("weighted_f0_5", skm.fbeta_score(truth, predicted, beta=0.5, average="weighted")),
        ("weighted_f1", skm.f1_score(truth, predicted, average="weighted")),
        ("weighted_f2", skm.fbeta_score(truth, predicted, beta=2, average="weighted")),
    ):
        assert _value(body, name) == pytest.approx(score, abs=TOLERANCE), name
    top = np.bincount(truth.astype(int)).argmax()
    constant = np.full_like(truth, top)
    assert _value(body, "weighted_f1_best_constant_classifier") == pytest.approx(
        skm.f1_score(truth, constant, average="weighted"), abs=TOLERANCE
    )
    assert _value(body, "accuracy_best_constant_classifier") == pytest.approx(
        skm.accuracy_score(truth, constant), abs=TOLERANCE
    )
    matrix = skm.confusion_matrix(truth, predicted, labels=[0, 1, 2, 3])
    assert body["confusion_matrix"]["dog"]["emu"] == matrix[1, 2]
    assert body["confusion_matrix"]["fox"]["fox"] == 0


def test_regression_metrics_equal_scikit_learn() -> None:
    generator = np.random.default_rng(8)
    truth = generator.normal(10, 3, 400)
    predicted = truth + generator.normal(0.5, 1, 400)
    body = quality_statistics("Regression", truth, predicted, predicted)["regression_metrics"]
    assert list(body) == ["mae", "mse", "rmse", "r2"]
    assert _value(body, "mae") == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert _value(body, "mse") == pytest.approx(skm.mean_squared_error(truth, predicted))
    assert _value(body, "rmse") == pytest.approx(
        math.sqrt(skm.mean_squared_error(truth, predicted))
    )
    assert _value(body, "r2") == pytest.approx(skm.r2_score(truth, predicted), abs=TOLERANCE)


def test_standard_deviation_is_nan_below_200_rows_and_seeded_above() -> None:
    small = quality_statistics("BinaryClassification", *_binary(9, 199))
    assert (
        json.loads(document_bytes(small))["binary_classification_metrics"]["f1"][
            "standard_deviation"
        ]
        == "NaN"
    )
    first = document_bytes(quality_statistics("BinaryClassification", *_binary(9, 200)))
    again = document_bytes(quality_statistics("BinaryClassification", *_binary(9, 200)))
    assert first == again
    deviation = json.loads(first)["binary_classification_metrics"]["f1"]["standard_deviation"]
    assert isinstance(deviation, float) and 0 < deviation < 0.1


def test_sagemaker_example_confusion_gives_its_metrics() -> None:
    """The published example: actual 0 -> predicted 1 twice, so precision 1/3 and recall 1."""
    truth = np.array([0.0, 0.0, 0.0, 1.0])
    predicted = np.array([0.0, 1.0, 1.0, 1.0])
    document = json.loads(
        document_bytes(quality_statistics("BinaryClassification", truth, predicted, predicted))
    )
    ours = document["binary_classification_metrics"]
    reference = json.loads(
        (SHARED_DATA / "sagemaker-model-quality-statistics-example.json").read_text()
    )
    example = reference["binary_classification_metrics"]
    assert set(ours) == set(example)
    assert ours["confusion_matrix"] == example["confusion_matrix"]
    for name in (
        "precision",
        "recall",
        "accuracy",
        "f1",
        "f2",
        "f0_5",
        "false_positive_rate",
        "true_negative_rate",
        "precision_best_constant_classifier",
        "recall_best_constant_classifier",
        "accuracy_best_constant_classifier",
        "f1_best_constant_classifier",
        "f2_best_constant_classifier",
        "f0_5_best_constant_classifier",
    ):
        assert ours[name]["value"] == pytest.approx(example[name]["value"], abs=1e-12), name
        assert ours[name]["standard_deviation"] == "NaN"
    assert document["dataset"] == {"item_count": 4}
