"""What report.html is drawn from: one run's typed result and the baseline it was checked against.

A run hands its pages the `RunReport` (data quality) or `QualityReport` (model quality) it holds
in memory, so writing report.html reads nothing back. `read_run` builds the same objects from
the files a run left (the `report --run` command, tests). Nothing here raises for a missing or
broken file: each problem becomes a sentence in `problems`, so a page can still be drawn and
say what it could not show.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.profiling.statistics import Statistics
from analyzer.reading import storage
from analyzer.reporting.execution import (
    EXECUTION_FILE,
    STATISTICS_FILE,
    VIOLATIONS_FILE,
    ExecutionResult,
)
from analyzer.reporting.quality_record import QualityResult
from analyzer.results.constraints import OPERATORS, Constraints, MetricConstraint
from analyzer.results.status import FAILED
from analyzer.results.violations import QualityViolation, Violation

REPORT_FILE = "report.html"
# Top-level keys of a model-quality statistics.json (SageMaker's Model Quality Monitor).
QUALITY_KEYS = (
    "binary_classification_metrics",
    "multiclass_classification_metrics",
    "regression_metrics",
)
ESTIMATED_PREFIX = "estimated_"


@dataclass(slots=True)
class RunReport:
    """A data-quality run's page input. `result` is None when execution.json could not be read."""

    folder: str
    result: ExecutionResult | None
    baseline_url: str | None = None  # the baseline statistics, as the run was given them
    baseline: Statistics | None = None
    constraints: Constraints | None = None
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class QualityReport:
    """A model-quality run's page input; `constraints` None when none could be read."""

    folder: str
    result: QualityResult | None
    constraints: list[MetricConstraint] | None = None
    problems: list[str] = field(default_factory=list)


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


def read_run(folder: str) -> RunReport | QualityReport:
    """The page input of the run whose files are in `folder` (local or s3://)."""
    problems: list[str] = []
    raw = read_json(storage.join(folder, EXECUTION_FILE), EXECUTION_FILE, problems)
    execution: dict[str, Any] = raw if isinstance(raw, dict) else {}
    # A Failed run writes no statistics: their absence is explained by the failure reason.
    required = raw is None or execution.get("status") != FAILED
    raw = read_json(storage.join(folder, STATISTICS_FILE), STATISTICS_FILE, problems, required)
    statistics = raw if isinstance(raw, dict) else None
    raw = read_json(storage.join(folder, VIOLATIONS_FILE), VIOLATIONS_FILE, problems, required)
    entries = raw.get("violations") if isinstance(raw, dict) else None
    violations = [v for v in entries if isinstance(v, dict)] if isinstance(entries, list) else []
    files = _Files(folder, execution, statistics, violations, problems)
    if execution.get("monitoring_type") == "ModelQuality" or (
        statistics is not None and any(key in statistics for key in QUALITY_KEYS)
    ):
        return _quality_report(files)
    return _run_report(files)


@dataclass(slots=True)
class _Files:
    """What a run's folder held, as parsed JSON (empty or None where a file was unreadable)."""

    folder: str
    execution: dict[str, Any]
    statistics: dict[str, Any] | None
    violations: list[dict[str, Any]]
    problems: list[str]


def _run_report(files: _Files) -> RunReport:
    folder, execution, statistics = files.folder, files.execution, files.statistics
    violations, problems = files.violations, files.problems
    report = RunReport(folder, None, problems=problems)
    if execution:
        report.result = result = ExecutionResult.from_json(execution)
        result.violations = [
            Violation(
                str(v.get("feature_name", "?")),
                str(v.get("constraint_check_type", "?")),
                str(v.get("description", "")),
            )
            for v in violations
        ]
        if statistics is not None:
            result.statistics = _statistics(statistics, STATISTICS_FILE, problems)
    constraints_url = execution.get("baseline_constraints")
    if isinstance(constraints_url, str) and constraints_url:
        raw = read_json(constraints_url, "the baseline constraints", problems)
        if isinstance(raw, dict):
            try:
                report.constraints = Constraints.from_json(raw)
            except (AnalyzerError, KeyError, TypeError, ValueError) as exc:
                problems.append(f"the baseline constraints {constraints_url} are invalid: {exc}")
    statistics_url = execution.get("baseline_statistics")
    if isinstance(statistics_url, str) and statistics_url:
        report.baseline_url = statistics_url
        raw = read_json(statistics_url, "the baseline statistics", problems)
        if raw is not None:
            report.baseline = _statistics(raw, statistics_url, problems)
    elif execution:
        problems.append("execution.json names no baseline statistics: no baseline to compare")
    return report


def _quality_report(files: _Files) -> QualityReport:
    folder, execution, statistics = files.folder, files.execution, files.statistics
    violations, problems = files.violations, files.problems
    report = QualityReport(folder, None, problems=problems)
    if execution or statistics is not None:
        report.result = result = QualityResult.from_json(execution)
        document = dict(statistics or {})
        estimated = [key for key in document if key.startswith(ESTIMATED_PREFIX)]
        result.estimated = document.pop(estimated[0]) if estimated else None
        result.statistics = document if statistics is not None else None
        result.violations = [
            QualityViolation(
                str(v.get("constraint_check_type", "")),
                str(v.get("description", "")),
                str(v.get("metric_name", "")),
            )
            for v in violations
        ]
    constraints_url = execution.get("baseline_constraints")
    if isinstance(constraints_url, str) and constraints_url:
        raw = read_json(constraints_url, "the baseline constraints", problems)
        report.constraints = _metric_constraints(raw)
    return report


def _statistics(raw: Any, where: str, problems: list[str]) -> Statistics | None:
    try:
        return Statistics.from_json(raw)
    except (AnalyzerError, KeyError, TypeError, ValueError) as exc:
        problems.append(f"{where} is not a valid statistics file: {exc}")
        return None


def _metric_constraints(raw: Any) -> list[MetricConstraint] | None:
    """The entries of a model-quality constraints.json's `{problem}_constraints` object that
    name a numeric threshold and a known operator (a page shows what it can)."""
    if not isinstance(raw, dict):
        return None
    for key, value in raw.items():
        if key.endswith("_constraints") and isinstance(value, Mapping):
            return [
                MetricConstraint(str(metric), float(entry["threshold"]), operator)
                for metric, entry in value.items()
                if isinstance(entry, Mapping)
                and isinstance(entry.get("threshold"), int | float)
                and (operator := str(entry.get("comparison_operator"))) in OPERATORS
            ]
    return None
