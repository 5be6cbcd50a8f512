"""SageMaker's model-quality metrics of joined rows by problem type, with standard deviations.

Definitions are scikit-learn's (zero_division 0): binary precision, recall, F-beta and rates of
the positive class 1; multiclass `weighted_*` averages over the classes weighted by their support.
The binary `*_best_constant_classifier` always predicts the positive class (SageMaker's example:
its precision and accuracy are the positive share, its recall 1); the multiclass one always
predicts the most frequent label. A scalar's `standard_deviation` is "NaN" below 200 rows, else
the population standard deviation of the metric over 5 random 80 % samples drawn with a fixed
seed (same rows, same numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.checking.quality import curves
from analyzer.results.problem import BINARY, MULTICLASS, REGRESSION

Floats = npt.NDArray[np.float64]
Scalars = dict[str, float]
STD_DEV_MIN_ROWS = 200
SAMPLES = 5
SAMPLE_SHARE = 0.8
SEED = 20201201
BETAS = (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0))
BINARY_ORDER = (
    "recall",
    "precision",
    "accuracy",
    "recall_best_constant_classifier",
    "precision_best_constant_classifier",
    "accuracy_best_constant_classifier",
    "true_positive_rate",
    "true_negative_rate",
    "false_positive_rate",
    "false_negative_rate",
    "auc",
    "f0_5",
    "f1",
    "f2",
    "f0_5_best_constant_classifier",
    "f1_best_constant_classifier",
    "f2_best_constant_classifier",
)
MULTICLASS_ORDER = (
    "accuracy",
    "weighted_recall",
    "weighted_precision",
    "weighted_f0_5",
    "weighted_f1",
    "weighted_f2",
    "accuracy_best_constant_classifier",
    "weighted_recall_best_constant_classifier",
    "weighted_precision_best_constant_classifier",
    "weighted_f0_5_best_constant_classifier",
    "weighted_f1_best_constant_classifier",
    "weighted_f2_best_constant_classifier",
)
REGRESSION_ORDER = ("mae", "mse", "rmse", "r2")


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _fbeta(tp: float, fp: float, fn: float, beta: float) -> float:
    b2 = beta * beta
    return _ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)


def binary_counts(truth: Floats, predicted: Floats) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) with 1 the positive class."""
    t, p = truth == 1, predicted == 1
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(p)) - tp
    fn = int(np.count_nonzero(t)) - tp
    return tp, fp, fn, truth.size - tp - fp - fn


def binary_scalars(truth: Floats, predicted: Floats, scores: Floats) -> Scalars:
    tp, fp, fn, tn = binary_counts(truth, predicted)
    n, positives = truth.size, tp + fn
    found = {
        "recall": _ratio(tp, tp + fn),
        "precision": _ratio(tp, tp + fp),
        "accuracy": _ratio(tp + tn, n),
        "recall_best_constant_classifier": 1.0 if positives else 0.0,
        "precision_best_constant_classifier": _ratio(positives, n),
        "accuracy_best_constant_classifier": _ratio(positives, n),
        "true_positive_rate": _ratio(tp, tp + fn),
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        "auc": curves.auc(truth.astype(np.int8), scores),
    }
    for name, beta in BETAS:
        found[name] = _fbeta(tp, fp, fn, beta)
        found[f"{name}_best_constant_classifier"] = _fbeta(positives, n - positives, 0, beta)
    return {name: found[name] for name in BINARY_ORDER}


def _weighted(tp: Floats, predicted: Floats, support: Floats, n: int) -> Scalars:
    """Support-weighted precision, recall and F-beta from per-class counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        found = {
            "weighted_recall": float(recall @ support) / n,
            "weighted_precision": float(precision @ support) / n,
        }
        fn, fp = support - tp, predicted - tp
        for name, beta in BETAS:
            b2 = beta * beta
            denominator = (1 + b2) * tp + b2 * fn + fp
            score = np.where(denominator > 0, (1 + b2) * tp / denominator, 0.0)
            found[f"weighted_{name}"] = float(score @ support) / n
    return found


def multiclass_scalars(
    truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64], classes: int
) -> Scalars:
    t, p = truth.astype(np.int64), predicted.astype(np.int64)
    n = t.size
    support = np.bincount(t, minlength=classes).astype(np.float64)
    counted = np.bincount(p, minlength=classes).astype(np.float64)
    tp = np.bincount(t[t == p], minlength=classes).astype(np.float64)
    found = {"accuracy": float(tp.sum()) / n, **_weighted(tp, counted, support, n)}
    top = int(np.argmax(support))  # the most frequent label; ties: the first class
    constant_tp = np.zeros(classes)
    constant_tp[top] = support[top]
    constant_counted = np.zeros(classes)
    constant_counted[top] = n
    found["accuracy_best_constant_classifier"] = support[top] / n
    for name, value in _weighted(constant_tp, constant_counted, support, n).items():
        found[f"{name}_best_constant_classifier"] = value
    return {name: float(found[name]) for name in MULTICLASS_ORDER}


def regression_scalars(truth: Floats, predicted: Floats) -> Scalars:
    error = truth - predicted
    mse = float(np.mean(error * error))
    residual = float(np.sum(error * error))
    total = float(np.sum((truth - truth.mean()) ** 2))
    r2 = (1.0 - residual / total) if total else (1.0 if residual == 0 else 0.0)
    return {"mae": float(np.mean(np.abs(error))), "mse": mse, "rmse": math.sqrt(mse), "r2": r2}


def standard_deviations(
    rows: int, compute: Callable[[npt.NDArray[np.int64]], Scalars], names: Sequence[str]
) -> dict[str, float]:
    """Each metric's population standard deviation over 5 seeded 80 % samples (NaN < 200 rows)."""
    if rows < STD_DEV_MIN_ROWS:
        return dict.fromkeys(names, math.nan)
    generator = np.random.default_rng(SEED)
    size = int(rows * SAMPLE_SHARE)
    samples = [compute(generator.choice(rows, size, replace=False)) for _ in range(SAMPLES)]
    return {name: float(np.std([s[name] for s in samples])) for name in names}


def scalars_with_deviation(
    values: Scalars, deviations: dict[str, float]
) -> dict[str, dict[str, Any]]:
    return {
        name: {"value": value, "standard_deviation": deviations[name]}
        for name, value in values.items()
    }


__all__ = [
    "BINARY",
    "MULTICLASS",
    "REGRESSION",
    "binary_scalars",
    "multiclass_scalars",
    "regression_scalars",
    "standard_deviations",
]
