"""What a model-quality run or baseline leaves: statistics.json, constraints.json,
constraint_violations.json (SageMaker's layouts) and execution.json."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from analyzer.checking.quality.constraints import QualityViolation
from analyzer.reading import storage
from analyzer.reporting.execution import EXECUTION_FILE, STATISTICS_FILE, VIOLATIONS_FILE

__all__ = ["CONSTRAINTS_FILE", "EXECUTION_FILE", "STATISTICS_FILE", "VIOLATIONS_FILE"]

CONSTRAINTS_FILE = "constraints.json"


def finite(document: Any) -> Any:
    """The document with NaN and infinities written as "NaN", as SageMaker writes them."""
    if isinstance(document, float):
        return document if math.isfinite(document) else "NaN"
    if isinstance(document, dict):
        return {key: finite(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [finite(value) for value in document]
    return document


def document_bytes(document: Any) -> bytes:
    """Pretty-printed JSON, 2-space indent (as the data-quality files)."""
    return (json.dumps(finite(document), indent=2, allow_nan=False) + "\n").encode("utf-8")


def violations_bytes(violations: Sequence[QualityViolation]) -> bytes:
    """constraint_violations.json in the pre-built container's Jackson layout (see
    analyzer.checking.checks.violations_to_bytes), with model quality's keys."""
    if not violations:
        return b'{\n  "violations" : [ ]\n}\n'
    entries = [
        "{\n"
        + ",\n".join(
            f"    {json.dumps(key)} : {json.dumps(value, ensure_ascii=False)}"
            for key, value in violation.to_json().items()
        )
        + "\n  }"
        for violation in violations
    ]
    return ('{\n  "violations" : [ ' + ", ".join(entries) + " ]\n}\n").encode("utf-8")


def write(output: str, name: str, data: bytes, written: list[str]) -> None:
    """Write one report file under `output`; append its URL to `written`."""
    url = storage.join(output, name)
    storage.write_bytes(url, data)
    written.append(url)
