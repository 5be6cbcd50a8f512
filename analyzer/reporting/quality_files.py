"""What a model-quality run or baseline leaves: statistics.json, constraints.json,
constraint_violations.json (SageMaker's layouts) and execution.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from analyzer.errors import BaselineError
from analyzer.reading import storage
from analyzer.reporting.execution import EXECUTION_FILE, STATISTICS_FILE, VIOLATIONS_FILE
from analyzer.reporting.json_text import pretty_json
from analyzer.reporting.violations_file import violations_to_bytes
from analyzer.results.constraints import OPERATORS, MetricConstraint
from analyzer.results.problem import CONSTRAINTS_KEY, METRICS_KEY, class_label
from analyzer.results.violations import QualityViolation

__all__ = ["CONSTRAINTS_FILE", "EXECUTION_FILE", "STATISTICS_FILE", "VIOLATIONS_FILE"]

CONSTRAINTS_FILE = "constraints.json"


def document_bytes(document: Any) -> bytes:
    """Pretty-printed JSON, 2-space indent (as the data-quality files), NaN written "NaN"."""
    return pretty_json(document, non_finite="NaN")


def constraints_bytes(problem_type: str, constraints: Sequence[MetricConstraint]) -> bytes:
    """A model-quality constraints.json: `{problem}_constraints`, one entry per metric."""
    entries = {
        c.metric: {"threshold": c.threshold, "comparison_operator": c.comparison_operator}
        for c in constraints
    }
    return document_bytes({"version": 0.0, CONSTRAINTS_KEY[problem_type]: entries})


def violations_bytes(violations: Sequence[QualityViolation]) -> bytes:
    """constraint_violations.json in the pre-built container's Jackson layout, with model
    quality's keys."""
    return violations_to_bytes(violations)


def write(output: str, name: str, data: bytes, written: list[str]) -> None:
    """Write one report file under `output`; append its URL to `written`."""
    url = storage.join(output, name)
    storage.write_bytes(url, data)
    written.append(url)


def load_constraints(url: str, problem_type: str) -> list[MetricConstraint]:
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


def baseline_classes(url: str) -> set[str]:
    """The classes of a baseline statistics.json: the actual labels of its confusion matrix."""
    document = _baseline_document(url)
    for key in METRICS_KEY.values():
        body = document.get(key) if isinstance(document, dict) else None
        if isinstance(body, dict) and isinstance(body.get("confusion_matrix"), dict):
            return {class_label(name) for name in body["confusion_matrix"]}
    return set()


def baseline_object(url: str, key: str) -> dict[str, Any] | None:
    """One top-level object of a baseline statistics.json (such as `cbpe_reference`), or None."""
    found = _baseline_document(url).get(key)
    return found if isinstance(found, dict) else None


def _baseline_document(url: str) -> dict[str, Any]:
    try:
        document = json.loads(storage.read_bytes(url))
    except ValueError as exc:
        raise BaselineError(f"{url} is not JSON: {exc}") from exc
    return document if isinstance(document, dict) else {}
