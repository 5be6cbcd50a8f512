"""The metrics object of a model-quality statistics.json: scalars, confusion matrix, curves.

`{"version": 0.0, "dataset": {"item_count": n}, "<problem>_metrics": {...}}` in SageMaker's key
order; the confusion matrix reads actual label -> predicted label -> count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.checking.quality import curves, metrics
from analyzer.results.problem import BINARY, METRICS_KEY, MULTICLASS

Floats = npt.NDArray[np.float64]


def class_order(names: Sequence[str]) -> list[str]:
    """Classes as people list them: numerically when every name is a number."""
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def quality_statistics(
    problem_type: str,
    truth: Floats,
    predicted: Floats,
    scores: Floats,
    class_names: Sequence[str] = (),
) -> dict[str, Any]:
    """statistics.json of joined rows (SageMaker's Model Quality Monitor layout)."""
    if problem_type == BINARY:
        body = binary_object(truth, predicted, scores)
    elif problem_type == MULTICLASS:
        body = multiclass_object(truth, predicted, class_names)
    else:
        body = regression_object(truth, predicted)
    return {
        "version": 0.0,
        "dataset": {"item_count": int(truth.size)},
        METRICS_KEY[problem_type]: body,
    }


def binary_object(truth: Floats, predicted: Floats, scores: Floats) -> dict[str, Any]:
    if scores.size == 0 or np.isnan(scores).any():
        scores = predicted  # no probability attribute: the curves of the hard predictions

    def compute(rows: npt.NDArray[np.int64]) -> metrics.Scalars:
        return metrics.binary_scalars(truth[rows], predicted[rows], scores[rows])

    values = metrics.binary_scalars(truth, predicted, scores)
    deviations = metrics.standard_deviations(truth.size, compute, metrics.BINARY_ORDER)
    tp, fp, fn, tn = metrics.binary_counts(truth, predicted)
    scalars = metrics.scalars_with_deviation(values, deviations)
    positives = truth.astype(np.int8)
    fpr, tpr = curves.thin(*curves.roc_points(positives, scores))
    precisions, recalls = curves.thin(*curves.pr_points(positives, scores))
    body: dict[str, Any] = {"confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}}
    for name in metrics.BINARY_ORDER:
        if name == "auc":
            body["receiver_operating_characteristic_curve"] = {
                "false_positive_rates": fpr,
                "true_positive_rates": tpr,
            }
            body["precision_recall_curve"] = {"precisions": precisions, "recalls": recalls}
        body[name] = scalars[name]
    return body


def multiclass_object(
    truth: Floats, predicted: Floats, class_names: Sequence[str]
) -> dict[str, Any]:
    ordered = class_order(class_names)
    rank = np.array([ordered.index(name) for name in class_names], dtype=np.int64)
    t = rank[truth.astype(np.int64)] if truth.size else truth.astype(np.int64)
    p = rank[predicted.astype(np.int64)] if predicted.size else predicted.astype(np.int64)
    classes = len(ordered)

    def compute(rows: npt.NDArray[np.int64]) -> metrics.Scalars:
        return metrics.multiclass_scalars(t[rows], p[rows], classes)

    values = metrics.multiclass_scalars(t, p, classes)
    deviations = metrics.standard_deviations(t.size, compute, metrics.MULTICLASS_ORDER)
    matrix = np.bincount(t * classes + p, minlength=classes * classes).reshape(classes, classes)
    present = [c for c in range(classes) if matrix[c].any() or matrix[:, c].any()]
    confusion = {ordered[a]: {ordered[b]: int(matrix[a, b]) for b in present} for a in present}
    return {"confusion_matrix": confusion, **metrics.scalars_with_deviation(values, deviations)}


def regression_object(truth: Floats, predicted: Floats) -> dict[str, Any]:
    def compute(rows: npt.NDArray[np.int64]) -> metrics.Scalars:
        return metrics.regression_scalars(truth[rows], predicted[rows])

    values = metrics.regression_scalars(truth, predicted)
    deviations = metrics.standard_deviations(truth.size, compute, metrics.REGRESSION_ORDER)
    return metrics.scalars_with_deviation(values, deviations)


def scalar_values(statistics: dict[str, Any]) -> dict[str, float]:
    """metric -> value of a statistics document's scalars (curves and the matrix left out)."""
    for key in METRICS_KEY.values():
        body = statistics.get(key)
        if isinstance(body, dict):
            return {
                name: float(entry["value"])
                for name, entry in body.items()
                if isinstance(entry, dict) and "value" in entry and _number(entry["value"])
            }
    return {}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
