"""constraint_violations.json: the check types, a violation, the file as SageMaker writes it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True, slots=True)
class Violation:
    """One entry of constraint_violations.json."""

    feature_name: str
    constraint_check_type: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


class ViolationEntry(Protocol):
    """A violation of either kind (data or model quality): its keys in the file's order."""

    def to_json(self) -> Mapping[str, str]: ...


def violations_to_bytes(violations: Sequence[ViolationEntry]) -> bytes:
    """constraint_violations.json exactly as SageMaker's container writes it (Jackson's pretty
    printer: `" : "` separators, `[ {` … `}, {` … `} ]`, two-space indents, `[ ]` when empty)."""
    if not violations:
        return b'{\n  "violations" : [ ]\n}\n'
    entries = []
    for violation in violations:
        fields = ",\n".join(
            f"    {_json_string(key)} : {_json_string(value)}"
            for key, value in violation.to_json().items()
        )
        entries.append("{\n" + fields + "\n  }")
    body = ", ".join(entries)
    return ('{\n  "violations" : [ ' + body + " ]\n}\n").encode("utf-8")


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
