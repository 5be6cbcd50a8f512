"""Are the scores probabilities? Calibration of a labelled baseline, and its isotonic correction.

CBPE (analyzer.checking.quality.estimate) reads a score of 0.8 as "positive 80 % of the time".
`quality-baseline` measures how far that holds on its labelled rows, as NannyML does: the expected
calibration error (ECE) over 10 equal-count score bins, before and after an isotonic regression
fitted on the other rows (10 stratified 90/10 splits, seeded); when the fitted map lowers the
held-out ECE, scores are re-calibrated with the map fitted on every row before they are
estimated from. The map is a list of breakpoints, applied by linear interpolation (clipped at
the ends), as scikit-learn's IsotonicRegression predicts; it goes into the baseline's
statistics.json, so `quality-run --baseline-statistics` applies it with numpy alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
BIN_COUNT = 10
SPLITS = 10
TEST_SHARE = 0.1
SEED = 42


@dataclass(frozen=True, slots=True)
class IsotonicMap:
    """Breakpoints of a non-decreasing score -> probability map."""

    scores: Floats
    probabilities: Floats

    def apply(self, scores: Floats) -> Floats:
        return np.interp(scores, self.scores, self.probabilities)

    def to_json(self) -> dict[str, list[float]]:
        return {"scores": self.scores.tolist(), "probabilities": self.probabilities.tolist()}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IsotonicMap:
        scores = np.asarray(raw["scores"], dtype=np.float64)
        probabilities = np.asarray(raw["probabilities"], dtype=np.float64)
        if scores.size == 0 or scores.shape != probabilities.shape or np.any(np.diff(scores) < 0):
            raise ValueError("isotonic map: scores must be sorted and match probabilities")
        return cls(scores, probabilities)


def fit_isotonic(scores: Floats, truth: Floats) -> IsotonicMap:
    """The least-squares non-decreasing map of scores to the labels (ties pooled)."""
    # Imported here: only quality-baseline fits; every other command starts without scipy.
    from scipy.optimize import isotonic_regression

    unique, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=truth) / counts
    fitted = isotonic_regression(means, weights=counts.astype(np.float64)).x
    # Keep the ends of each flat run only: interpolation between them is the same map.
    change = np.flatnonzero(np.diff(fitted)) if fitted.size > 1 else np.array([], dtype=np.int64)
    keep = np.unique(np.concatenate(([0, unique.size - 1], change, change + 1)))
    return IsotonicMap(unique[keep], np.clip(fitted[keep], 0.0, 1.0))


def expected_calibration_error(truth: Floats, scores: Floats, bin_count: int = BIN_COUNT) -> float:
    """Mean |share of positives - mean score| over equal-count bins of sorted scores, weighted."""
    bins = min(bin_count, truth.size // 2)
    if bins < 1:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    edges = np.linspace(0, truth.size, bins + 1).astype(int)
    gaps, weights = [], []
    for start, end in itertools.pairwise(edges.tolist()):
        rows = order[start:end]
        gaps.append(abs(float(truth[rows].mean()) - float(scores[rows].mean())))
        weights.append(end - start)
    return float(np.average(gaps, weights=weights))


def held_out_errors(truth: Floats, scores: Floats) -> tuple[float, float]:
    """ECE of the raw and of the re-calibrated scores of 10 held-out 10 % splits, pooled."""
    generator = np.random.default_rng(SEED)
    tested, raw, calibrated = [], [], []
    for _ in range(SPLITS):
        test = _stratified_test_rows(truth, generator)
        train = np.ones(truth.size, dtype=bool)
        train[test] = False
        mapping = fit_isotonic(scores[train], truth[train])
        tested.append(truth[test])
        raw.append(scores[test])
        calibrated.append(mapping.apply(scores[test]))
    pooled = np.concatenate(tested)
    return (
        expected_calibration_error(pooled, np.concatenate(raw)),
        expected_calibration_error(pooled, np.concatenate(calibrated)),
    )


def _stratified_test_rows(truth: Floats, generator: np.random.Generator) -> npt.NDArray[np.int64]:
    picked = []
    for value in (0.0, 1.0):
        rows = np.flatnonzero(truth == value)
        count = max(1, round(rows.size * TEST_SHARE)) if rows.size > 1 else 0
        picked.append(generator.permutation(rows)[:count])
    return np.concatenate(picked).astype(np.int64)


def measure(truth: Floats, scores: Floats) -> dict[str, Any]:
    """The calibration object of a baseline: both ECEs, and the map when it helps."""
    found: dict[str, Any] = {"method": "isotonic", "bin_count": BIN_COUNT}
    constant = scores.size == 0 or float(scores.max() - scores.min()) == 0.0
    if constant or np.unique(truth).size < 2 or truth.size < 2 * SPLITS:
        found.update(expected_calibration_error=expected_calibration_error(truth, scores))
        found.update(recalibrate=False, reason="too few rows, or a single class or score")
        return found
    before, after = held_out_errors(truth, scores)
    found["expected_calibration_error"] = before
    found["expected_calibration_error_recalibrated"] = after
    found["recalibrate"] = after < before
    if found["recalibrate"]:
        found["isotonic"] = fit_isotonic(scores, truth).to_json()
    return found
