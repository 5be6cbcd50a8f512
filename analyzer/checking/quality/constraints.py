"""Model-quality constraints: suggested from a baseline as SageMaker does, and checked in a run.

`{"version": 0.0, "binary_classification_constraints": {"f2": {"threshold": 0.625,
"comparison_operator": "LessThanThreshold"}, ...}}`: one constraint per scalar metric (not the
`*_best_constant_classifier` twins, curves or matrix), the threshold the baseline's own value,
`GreaterThanThreshold` for error-like metrics. A violation reads
"Metric f2 with 0.5 was LessThanThreshold 0.625".
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from analyzer.checking.quality.problem import CONSTRAINTS_KEY, ERROR_LIKE
from analyzer.errors import BaselineError
from analyzer.reading import storage

LESS = "LessThanThreshold"
GREATER = "GreaterThanThreshold"
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    LESS: operator.lt,
    GREATER: operator.gt,
    "LessThanOrEqualToThreshold": operator.le,
    "GreaterThanOrEqualToThreshold": operator.ge,
}


@dataclass(frozen=True, slots=True)
class MetricConstraint:
    metric: str
    threshold: float
    comparison_operator: str


@dataclass(frozen=True, slots=True)
class QualityViolation:
    """One entry of a model-quality constraint_violations.json (SageMaker's key order)."""

    constraint_check_type: str
    description: str
    metric_name: str

    def to_json(self) -> dict[str, str]:
        return {
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
            "metric_name": self.metric_name,
        }


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


def load(url: str, problem_type: str) -> list[MetricConstraint]:
    """The constraints of `problem_type` in a constraints.json; BaselineError naming the fix."""
    try:
        document = json.loads(storage.read_bytes(url))
    except ValueError as exc:
        raise BaselineError(f"{url} is not JSON: {exc}") from exc
    key = CONSTRAINTS_KEY[problem_type]
    if not isinstance(document, dict) or not isinstance(document.get(key), dict):
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise BaselineError(
            f"{url} has no {key!r} object (found {found}); create it with "
            f"`infertap-analyzer quality-baseline --problem-type {problem_type}`"
        )
    parsed = []
    for metric, raw in document[key].items():
        try:
            threshold = float(raw["threshold"])
            comparison = str(raw["comparison_operator"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(
                f"{url}: {key}.{metric}: needs a numeric threshold ({exc})"
            ) from exc
        if comparison not in OPERATORS:
            raise BaselineError(
                f"{url}: {key}.{metric}: comparison_operator must be one of "
                f"{', '.join(OPERATORS)}, got {comparison!r}"
            )
        parsed.append(MetricConstraint(metric, threshold, comparison))
    return parsed


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
