"""Sampling error of binary metrics, as NannyML reports it beside each estimate.

A metric of n rows varies, from one sample of n rows to the next, by about the standard
deviation of its per-row contributions over sqrt(the rows that contribute): accuracy every row
(correct 1, wrong 0); precision the predicted positives; recall the actual positives; F1 the
rows of TP, FP and FN, with NannyML's correction factor. The per-row deviations ("components")
come from a labelled reference, the baseline's confusion matrix; without one, from the window's
own expected confusion matrix. The spread of 80 % subsamples of the same scores (the standard
deviation SageMaker gives its metrics) says how stable the estimate is on this data, not how far
this hour's metric can be from it, and understates that several times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# (std of a row's contribution, share of the rows that contribute), per metric
Components = dict[str, tuple[float, float]]


def components(tp: float, fp: float, fn: float, tn: float) -> Components:
    """NannyML's sampling-error components of a (possibly expected) confusion matrix."""
    total = tp + fp + fn + tn
    if total <= 0:
        return {}
    found: Components = {"accuracy": (_bernoulli_std((tp + tn) / total), 1.0)}
    if tp + fp > 0:
        found["precision"] = (_bernoulli_std(tp / (tp + fp)), (tp + fp) / total)
    if tp + fn > 0:
        found["recall"] = (_bernoulli_std(tp / (tp + fn)), (tp + fn) / total)
    relevant = tp + fp + fn
    if relevant > 0:
        # TP rows count 1, FP and FN rows 0, all scaled so that their mean is the F1.
        factor = relevant / ((fn + fp) * 0.5 + tp)
        found["f1"] = (factor * _bernoulli_std(tp / relevant), relevant / total)
    return found


def _bernoulli_std(share: float) -> float:
    return math.sqrt(max(share * (1.0 - share), 0.0))


def sampling_errors(parts: Components, rows: int) -> dict[str, float]:
    """Each metric's sampling error for a sample of `rows` rows."""
    return {
        name: std / math.sqrt(rows * share) if rows * share > 0 else math.nan
        for name, (std, share) in parts.items()
    }


def matrix_counts(matrix: Mapping[str, Mapping[str, Any]]) -> tuple[float, float, float, float]:
    """(tp, fp, fn, tn) of a binary confusion matrix keyed actual -> predicted -> count."""

    def cell(actual: str, predicted: str) -> float:
        for a_key, row in matrix.items():
            if _is_class(a_key, actual):
                for p_key, count in row.items():
                    if _is_class(p_key, predicted):
                        return float(count)
        return 0.0

    return cell("1", "1"), cell("0", "1"), cell("1", "0"), cell("0", "0")


def _is_class(key: str, wanted: str) -> bool:
    try:
        return float(key) == float(wanted)
    except ValueError:
        return key.strip().lower() == {"1": "true", "0": "false"}[wanted]


def to_json(parts: Components) -> dict[str, dict[str, float]]:
    return {n: {"standard_deviation": s, "fraction": f} for n, (s, f) in parts.items()}


def from_json(raw: Mapping[str, Any]) -> Components:
    return {n: (float(v["standard_deviation"]), float(v["fraction"])) for n, v in raw.items()}
