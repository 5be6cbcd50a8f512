"""Metrics estimated before labels land: confidence-based performance estimation (CBPE).

For binary classification with scores, a calibrated score p is the chance the row is positive,
so each row adds p to the expected true positives (predicted 1) or false negatives (predicted 0),
and 1 - p to the expected false positives or true negatives. Accuracy, precision, recall and F1
follow from that expected confusion matrix, as NannyML's CBPE does. The estimate is only as good
as the calibration: the baseline measures it and, when the scores are not probabilities (an
over-confident model), re-calibrates them (analyzer.checking.quality.calibration); drift in P(y|x)
no score can see, so estimates are compared with the realised metrics when labels land, and a miss
of more than 3 sampling errors is a warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.checking.quality import metrics, sampling_error
from analyzer.checking.quality.reference import TRUSTED_CALIBRATION_ERROR, Reference

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


def estimate(
    scores: Floats, predicted: Floats, reference: Reference | None
) -> dict[str, Any] | None:
    """The estimated object for every scored capture, or None without scores.

    With a reference (the baseline's), scores are re-calibrated when it says so and each metric's
    `standard_deviation` is NannyML's sampling error from the baseline's confusion matrix;
    without one, the scores are taken as they are and the sampling error comes from the
    window's own expected confusion matrix.
    """
    keep = ~np.isnan(scores)
    scores, predicted = scores[keep], predicted[keep]
    if scores.size == 0:
        return None
    if reference is not None and reference.mapping is not None:
        scores = reference.mapping.apply(scores)
    values = expected_scalars(scores, predicted)
    parts = reference.components if reference and reference.components else None
    errors = sampling_error.sampling_errors(
        parts or _own_components(scores, predicted), scores.size
    )
    found: dict[str, Any] = {"method": "CBPE", "item_count": int(scores.size)}
    found["calibration"] = _calibration_note(reference)
    for name in ESTIMATED:
        error = errors.get(name, math.nan)
        found[name] = {"value": values[name], "standard_deviation": error, "sampling_error": error}
    return found


def _own_components(scores: Floats, predicted: Floats) -> sampling_error.Components:
    positive = predicted == 1
    tp = float(scores[positive].sum())
    fn = float(scores[~positive].sum())
    return sampling_error.components(
        tp, float(positive.sum()) - tp, fn, float((~positive).sum()) - fn
    )


def _calibration_note(reference: Reference | None) -> dict[str, Any]:
    if reference is None:
        return {"source": "none: scores taken as calibrated probabilities"}
    return {
        "source": "baseline",
        "recalibrated": reference.mapping is not None,
        "expected_calibration_error": reference.calibration.get("expected_calibration_error"),
        "remaining_calibration_error": reference.remaining_error,
    }


def compare(estimated: Mapping[str, Any], realised: Mapping[str, float]) -> dict[str, Any]:
    """estimate vs realised for each estimated metric the joined rows also measured."""
    found = {}
    for name in ESTIMATED:
        if name in realised and name in estimated:
            guess = float(estimated[name]["value"])
            error = float(estimated[name].get("sampling_error", math.nan))
            difference = guess - realised[name]
            found[name] = {
                "estimated": guess,
                "realised": realised[name],
                "difference": difference,
                "sampling_error": error,
                "within_3_sampling_errors": bool(abs(difference) <= 3 * error),
            }
    return found


def trust_warnings(estimated: Mapping[str, Any], gaps: Mapping[str, Any]) -> list[str]:
    """Why the estimates should not be believed, if they should not."""
    note = estimated.get("calibration") or {}
    found = []
    if note.get("source") != "baseline":
        found.append(
            "CBPE estimates take the scores as calibrated probabilities, unchecked: give "
            "--baseline-statistics the statistics.json of a quality-baseline with scores (it "
            "measures and corrects their calibration)"
        )
    elif float(note.get("remaining_calibration_error", 0.0)) > TRUSTED_CALIBRATION_ERROR:
        found.append(
            "CBPE estimates cannot be trusted: the baseline's scores stay miscalibrated (expected "
            f"calibration error {note['remaining_calibration_error']:.3f})"
        )
    missed = [n for n, gap in gaps.items() if not gap["within_3_sampling_errors"]]
    if missed:
        worst = max(missed, key=lambda n: abs(gaps[n]["difference"]))
        gap = gaps[worst]
        found.append(
            f"CBPE estimates missed the realised metrics by more than 3 sampling errors "
            f"({', '.join(missed)}; {worst} {gap['estimated']:.3f} vs {gap['realised']:.3f}): "
            "the scores' calibration does not hold for this traffic; re-baseline on recent labels"
        )
    return found
