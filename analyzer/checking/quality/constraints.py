"""Model-quality constraints checked in a run (suggested by `analyzer.suggesting.model_quality`).

A violation reads "Metric f2 with 0.5 was LessThanThreshold 0.625".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from analyzer.results.constraints import OPERATORS, MetricConstraint
from analyzer.results.violations import QualityViolation


def evaluate(
    constraints: list[MetricConstraint], values: Mapping[str, float]
) -> tuple[list[QualityViolation], list[str]]:
    """Violations, and warnings for constrained metrics the run could not compute."""
    violations, warnings = [], []
    for constraint in constraints:
        value = values.get(constraint.metric)
        if value is None or not math.isfinite(value):
            warnings.append(f"metric {constraint.metric} has no value in this run (not checked)")
            continue
        if OPERATORS[constraint.comparison_operator](value, constraint.threshold):
            violations.append(
                QualityViolation(
                    constraint.comparison_operator,
                    f"Metric {constraint.metric} with {value!r} was "
                    f"{constraint.comparison_operator} {constraint.threshold!r}",
                    constraint.metric,
                )
            )
    return violations, warnings
