"""Read what one run left in its folder (and the baseline it names) for the report pages.

Nothing here raises for a missing or broken file: each problem becomes a sentence in
`RunFiles.problems`, so a page can still be drawn and say what it could not show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.reporting.baseline_files import Constraints, Statistics
from analyzer.reporting.execution import EXECUTION_FILE, STATISTICS_FILE, VIOLATIONS_FILE

REPORT_FILE = "report.html"
# Top-level keys of a model-quality statistics.json (SageMaker's Model Quality Monitor).
QUALITY_KEYS = (
    "binary_classification_metrics",
    "multiclass_classification_metrics",
    "regression_metrics",
)


@dataclass(slots=True)
class RunFiles:
    """The JSON documents of one run; None where a file was absent or unreadable."""

    folder: str
    execution: dict[str, Any] | None = None
    statistics_json: dict[str, Any] | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    statistics: Statistics | None = None  # data quality only
    baseline_statistics: Statistics | None = None
    baseline_statistics_json: dict[str, Any] | None = None
    baseline_constraints: Constraints | None = None
    quality_constraints: dict[str, Any] | None = None  # model quality: {metric: {threshold, …}}
    problems: list[str] = field(default_factory=list)

    @property
    def is_model_quality(self) -> bool:
        return self.statistics_json is not None and any(
            key in self.statistics_json for key in QUALITY_KEYS
        )


def read_json(url: str, what: str, problems: list[str], required: bool = True) -> Any:
    """The parsed file, or None with a sentence in `problems` (unless absent and not required)."""
    try:
        data = storage.read_bytes(url)
    except AnalyzerError as exc:
        if required:
            problems.append(f"{what} could not be read: {exc}")
        return None
    try:
        return json.loads(data)  # NaN and Infinity are accepted: pages show them as such
    except ValueError as exc:
        problems.append(f"{what} at {url} is not JSON: {exc}")
        return None


def read_run(folder: str) -> RunFiles:
    """Read execution.json, statistics.json, constraint_violations.json and the baseline."""
    files = RunFiles(folder=folder)
    problems = files.problems
    execution = read_json(storage.join(folder, EXECUTION_FILE), EXECUTION_FILE, problems)
    files.execution = execution if isinstance(execution, dict) else None
    failed = files.execution is not None and files.execution.get("status") == "Failed"
    # A Failed run writes no statistics: their absence is explained by the failure reason.
    raw = read_json(storage.join(folder, STATISTICS_FILE), STATISTICS_FILE, problems, not failed)
    files.statistics_json = raw if isinstance(raw, dict) else None
    raw = read_json(storage.join(folder, VIOLATIONS_FILE), VIOLATIONS_FILE, problems, not failed)
    if isinstance(raw, dict) and isinstance(raw.get("violations"), list):
        files.violations = [v for v in raw["violations"] if isinstance(v, dict)]
    if files.statistics_json is not None and not files.is_model_quality:
        files.statistics = _statistics(files.statistics_json, STATISTICS_FILE, problems)
    _read_baseline(files)
    return files


def _read_baseline(files: RunFiles) -> None:
    """The baseline files execution.json names (relative paths as the run was given them)."""
    execution = files.execution or {}
    problems = files.problems
    constraints_url = execution.get("baseline_constraints")
    statistics_url = execution.get("baseline_statistics")
    if isinstance(constraints_url, str) and constraints_url:
        raw = read_json(constraints_url, "the baseline constraints", problems)
        if files.is_model_quality:
            files.quality_constraints = _quality_constraints(raw)
        elif isinstance(raw, dict):
            try:
                files.baseline_constraints = Constraints.from_json(raw)
            except (AnalyzerError, KeyError, TypeError, ValueError) as exc:
                problems.append(f"the baseline constraints {constraints_url} are invalid: {exc}")
    if isinstance(statistics_url, str) and statistics_url and not files.is_model_quality:
        raw = read_json(statistics_url, "the baseline statistics", problems)
        if raw is not None:
            files.baseline_statistics = _statistics(raw, statistics_url, problems)
            files.baseline_statistics_json = raw if isinstance(raw, dict) else None
    if files.execution is not None and not statistics_url and not files.is_model_quality:
        problems.append("execution.json names no baseline statistics: no baseline to compare")


def _statistics(raw: Any, where: str, problems: list[str]) -> Statistics | None:
    try:
        return Statistics.from_json(raw)
    except (AnalyzerError, KeyError, TypeError, ValueError) as exc:
        problems.append(f"{where} is not a valid statistics file: {exc}")
        return None


def _quality_constraints(raw: Any) -> dict[str, Any] | None:
    """`{metric: {threshold, comparison_operator}}` from a model-quality constraints.json."""
    if not isinstance(raw, dict):
        return None
    for key, value in raw.items():
        if key.endswith("_constraints") and isinstance(value, dict):
            return {k: v for k, v in value.items() if isinstance(v, dict)}
    return None
