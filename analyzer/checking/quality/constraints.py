"""Model-quality constraints: suggested from a baseline as SageMaker does, and checked in a run.

`{"version": 0.0, "binary_classification_constraints": {"f2": {"threshold": 0.625,
"comparison_operator": "LessThanThreshold"}, ...}}`: one constraint per scalar metric (not the
`*_best_constant_classifier` twins, curves or matrix), the threshold the baseline's own value,
`GreaterThanThreshold` for error-like metrics. A violation reads
"Metric f2 with 0.5 was LessThanThreshold 0.625".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from analyzer.results.constraints import GREATER, LESS, OPERATORS, MetricConstraint
from analyzer.results.problem import CONSTRAINTS_KEY, ERROR_LIKE
from analyzer.results.violations import QualityViolation


def suggest(problem_type: str, values: Mapping[str, float]) -> dict[str, Any]:
    """constraints.json from a baseline's metric values (NaN metrics get no constraint)."""
    entries = {
        name: {
            "threshold": value,
            "comparison_operator": GREATER if name in ERROR_LIKE else LESS,
        }
        for name, value in values.items()
        if not name.endswith("_best_constant_classifier") and math.isfinite(value)
    }
    return {"version": 0.0, CONSTRAINTS_KEY[problem_type]: entries}


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
