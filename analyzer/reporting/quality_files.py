"""What a model-quality run or baseline leaves: statistics.json, constraints.json,
constraint_violations.json (SageMaker's layouts) and execution.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analyzer.checking.quality.constraints import QualityViolation
from analyzer.reading import storage
from analyzer.reporting.execution import EXECUTION_FILE, STATISTICS_FILE, VIOLATIONS_FILE
from analyzer.reporting.json_text import pretty_json
from analyzer.reporting.violations_file import violations_to_bytes

__all__ = ["CONSTRAINTS_FILE", "EXECUTION_FILE", "STATISTICS_FILE", "VIOLATIONS_FILE"]

CONSTRAINTS_FILE = "constraints.json"


def document_bytes(document: Any) -> bytes:
    """Pretty-printed JSON, 2-space indent (as the data-quality files), NaN written "NaN"."""
    return pretty_json(document, non_finite="NaN")


def violations_bytes(violations: Sequence[QualityViolation]) -> bytes:
    """constraint_violations.json in the pre-built container's Jackson layout, with model
    quality's keys."""
    return violations_to_bytes(violations)


def write(output: str, name: str, data: bytes, written: list[str]) -> None:
    """Write one report file under `output`; append its URL to `written`."""
    url = storage.join(output, name)
    storage.write_bytes(url, data)
    written.append(url)
