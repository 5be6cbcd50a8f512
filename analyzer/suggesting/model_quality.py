"""Model-quality constraints suggested from a baseline's metric values, as SageMaker does.

One constraint per scalar metric (not the `*_best_constant_classifier` twins, curves or matrix),
the threshold the baseline's own value, `GreaterThanThreshold` for error-like metrics (lower is
better), `LessThanThreshold` for the others. `reporting.quality_files` writes them as
`{"version": 0.0, "binary_classification_constraints": {"f2": {"threshold": 0.625,
"comparison_operator": "LessThanThreshold"}, ...}}`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from analyzer.results.constraints import GREATER, LESS, MetricConstraint
from analyzer.results.problem import ERROR_LIKE

TWIN = "_best_constant_classifier"


def suggest_constraints(values: Mapping[str, float]) -> list[MetricConstraint]:
    """A constraint per finite metric value (NaN metrics, below 200 rows, get none)."""
    return [
        MetricConstraint(name, value, GREATER if name in ERROR_LIKE else LESS)
        for name, value in values.items()
        if not name.endswith(TWIN) and math.isfinite(value)
    ]
