"""Violations, as both monitors find them: data quality per feature, model quality per metric.

`checking` makes them; `reporting.violations_file` writes them as constraint_violations.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

DATA_TYPE_CHECK = "data_type_check"
COMPLETENESS_CHECK = "completeness_check"
BASELINE_DRIFT_CHECK = "baseline_drift_check"
MISSING_COLUMN_CHECK = "missing_column_check"
EXTRA_COLUMN_CHECK = "extra_column_check"
CATEGORICAL_VALUES_CHECK = "categorical_values_check"
CHECK_TYPES = (
    DATA_TYPE_CHECK,
    COMPLETENESS_CHECK,
    BASELINE_DRIFT_CHECK,
    MISSING_COLUMN_CHECK,
    EXTRA_COLUMN_CHECK,
    CATEGORICAL_VALUES_CHECK,
)


class ViolationEntry(Protocol):
    """A violation of any monitor: its keys in the file's order."""

    def to_json(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Violation:
    """One data-quality entry of constraint_violations.json."""

    feature_name: str
    constraint_check_type: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class QualityViolation:
    """One model-quality entry of constraint_violations.json (SageMaker's key order)."""

    constraint_check_type: str
    description: str
    metric_name: str

    def to_json(self) -> dict[str, str]:
        return {
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
            "metric_name": self.metric_name,
        }
