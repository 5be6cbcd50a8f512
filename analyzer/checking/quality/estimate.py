"""Metrics estimated before labels land: confidence-based performance estimation (CBPE).

For binary classification with scores, a calibrated score p is the chance the row is positive,
so each row adds p to the expected true positives (predicted 1) or false negatives (predicted 0),
and 1 - p to the expected false positives or true negatives. Accuracy, precision, recall and F1
follow from that expected confusion matrix, as NannyML's CBPE does. The estimate is only as good
as the calibration: a model whose scores are not probabilities (over-confident, or shifted by
drift in P(y|x)) gives biased estimates; compare them with the realised metrics when labels land.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.checking.quality import metrics

ESTIMATED_KEY = "estimated_binary_classification_metrics"
ESTIMATED = ("accuracy", "precision", "recall", "f1")
Floats = npt.NDArray[np.float64]


def expected_scalars(scores: Floats, predicted: Floats) -> metrics.Scalars:
    positive = predicted == 1
    return scalars_from_sums(
        float(scores[positive].sum()),
        float(positive.sum()),
        float(scores[~positive].sum()),
        float((~positive).sum()),
    )


def scalars_from_sums(
    positive_scores: float, positives: float, negative_scores: float, negatives: float
) -> metrics.Scalars:
    """The expected confusion matrix's metrics from sums over rows predicted positive (their
    scores, their count) and negative; sums add up, so windows of steps merge (`watch`)."""
    tp, fn = positive_scores, negative_scores
    fp, tn = positives - tp, negatives - fn
    total = positives + negatives
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "accuracy": (tp + tn) / total if total else math.nan,
        "precision": precision,
        "recall": recall,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }


def estimate(scores: Floats, predicted: Floats) -> dict[str, Any] | None:
    """The estimated object for every scored capture, or None without scores."""
    keep = ~np.isnan(scores)
    scores, predicted = scores[keep], predicted[keep]
    if scores.size == 0:
        return None

    def compute(rows: npt.NDArray[np.int64]) -> metrics.Scalars:
        return expected_scalars(scores[rows], predicted[rows])

    values = expected_scalars(scores, predicted)
    deviations = metrics.standard_deviations(scores.size, compute, ESTIMATED)
    return {
        "method": "CBPE",
        "item_count": int(scores.size),
        **metrics.scalars_with_deviation(values, deviations),
    }


def compare(estimated: Mapping[str, Any], realised: Mapping[str, float]) -> dict[str, Any]:
    """estimate vs realised for each estimated metric the joined rows also measured."""
    found = {}
    for name in ESTIMATED:
        if name in realised and name in estimated:
            guess = float(estimated[name]["value"])
            found[name] = {
                "estimated": guess,
                "realised": realised[name],
                "difference": guess - realised[name],
            }
    return found
