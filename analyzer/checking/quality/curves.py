"""ROC and precision-recall curves and the ROC AUC of binary scores (scikit-learn's definitions).

Points are taken at every distinct score (highest first). The AUC is computed on every point;
the curves written to statistics.json are thinned to at most `MAX_POINTS` evenly spaced points
(always keeping both ends), so a run over a million rows still writes a small file.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

MAX_POINTS = 1001
Floats = npt.NDArray[np.float64]


def _counts(truth: npt.NDArray[np.int8], scores: Floats) -> tuple[Floats, Floats]:
    """Cumulative true and false positives at each distinct score, highest score first."""
    order = np.argsort(-scores, kind="mergesort")
    ranked = scores[order]
    positives = truth[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tps = np.cumsum(positives)[last]
    fps = (last + 1) - tps
    return tps, fps.astype(np.float64)


def roc_points(truth: npt.NDArray[np.int8], scores: Floats) -> tuple[Floats, Floats]:
    """(false positive rates, true positive rates), starting at (0, 0)."""
    tps, fps = _counts(truth, scores)
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, math.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, math.nan)
    return fpr, tpr


def auc(truth: npt.NDArray[np.int8], scores: Floats) -> float:
    """The area under the ROC curve; NaN when the labels hold one class only."""
    if truth.size == 0 or truth.min() == truth.max():
        return math.nan
    fpr, tpr = roc_points(truth, scores)
    return float(np.trapezoid(tpr, fpr))


def pr_points(truth: npt.NDArray[np.int8], scores: Floats) -> tuple[Floats, Floats]:
    """(precisions, recalls) by rising recall, starting at (precision 1, recall 0)."""
    tps, fps = _counts(truth, scores)
    precision = tps / (tps + fps)
    recall = tps / tps[-1] if tps.size and tps[-1] > 0 else np.zeros(tps.shape)
    return np.r_[1.0, precision], np.r_[0.0, recall]


def thin(first: Floats, second: Floats) -> tuple[list[float], list[float]]:
    """At most MAX_POINTS evenly spaced points of a curve, both ends kept, as lists."""
    if first.size > MAX_POINTS:
        keep = np.unique(np.linspace(0, first.size - 1, MAX_POINTS).round().astype(np.int64))
        first, second = first[keep], second[keep]
    return [float(v) for v in first], [float(v) for v in second]
