"""Problem types, SageMaker's metric names for each, and how labels of each type are normalised."""

from __future__ import annotations

import math
from typing import Any

BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
REGRESSION = "Regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)

# The top-level object of statistics.json and constraints.json of each problem type.
METRICS_KEY = {
    BINARY: "binary_classification_metrics",
    MULTICLASS: "multiclass_classification_metrics",
    REGRESSION: "regression_metrics",
}
CONSTRAINTS_KEY = {
    BINARY: "binary_classification_constraints",
    MULTICLASS: "multiclass_classification_constraints",
    REGRESSION: "regression_constraints",
}
# Metrics where a larger value is worse: their constraints are GreaterThanThreshold.
ERROR_LIKE = frozenset({"mae", "mse", "rmse", "false_positive_rate", "false_negative_rate"})

_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


class LabelValueError(ValueError):
    """A label or prediction that does not fit the problem type; counted, never fatal."""


def class_label(value: Any) -> str:
    """A class as text; numbers compare as numbers (`1.0` is `1`), booleans are 1/0."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LabelValueError(f"class label {value!r} is not finite")
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    lowered = text.lower()
    if lowered in _TRUE:
        return "1"
    if lowered in _FALSE:
        return "0"
    try:
        number = float(text)
    except ValueError:
        if not text:
            raise LabelValueError("empty class label") from None
        return text
    if not math.isfinite(number):
        raise LabelValueError(f"class label {text!r} is not finite")
    return str(int(number)) if number.is_integer() else repr(number)


def binary_label(value: Any) -> int:
    """1 or 0 for a binary label or prediction; LabelValueError for anything else."""
    text = class_label(value)
    if text == "1":
        return 1
    if text == "0":
        return 0
    raise LabelValueError(f"{text!r} is not a binary label (0/1, true/false)")


def regression_value(value: Any) -> float:
    """A finite number; LabelValueError otherwise."""
    if isinstance(value, bool):
        raise LabelValueError("a boolean is not a regression value")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LabelValueError(f"{str(value)[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise LabelValueError(f"{number!r} is not a finite number")
    return number
