"""execution.json: a run's status, exit code, why it ended, what it read and what it found.

The one owner of that format: `ExecutionResult.to_json` writes it, `ExecutionResult.from_json`
reads it back (the scheduler's restart, its metrics). Statuses are SageMaker's: Completed,
CompletedWithViolations, Failed and Stopped (the run passed --max-runtime or was sent SIGTERM).
Beyond SageMaker's fields, a record carries `counts` (what was read and what was wrong with it),
`feature_drift` (feature -> the distance baseline_drift_check compared with its threshold),
`feature_drift_p_value` (String features tested with ChiSquared) and, when Stopped, `stop_reason`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from analyzer.job import MonitoringJob
from analyzer.profiling.statistics import Statistics
from analyzer.results.counts import RunCounts
from analyzer.results.outcome import RunResult
from analyzer.results.status import Status
from analyzer.results.violations import CHECK_TYPES, Violation

_Number = TypeVar("_Number", int, float)

STATISTICS_FILE = "statistics.json"
VIOLATIONS_FILE = "constraint_violations.json"
EXECUTION_FILE = "execution.json"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: object) -> datetime | None:
    """A time written by `iso` (or any ISO 8601 time with a zone), or None."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def window_text(start: datetime, end: datetime) -> str:
    """`2026-11-25T08:00Z–09:00Z` (the end's date is shown when it differs)."""  # noqa: RUF002
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    end_text = f"{end:%H:%MZ}" if end.date() == start.date() else f"{end:%Y-%m-%dT%H:%MZ}"
    return f"{start:%Y-%m-%dT%H:%MZ}–{end_text}"  # noqa: RUF001


@dataclass(slots=True)
class ExecutionResult(RunResult):
    """The outcome of one data-quality run, also written as execution.json.

    `violations_by_check` follows `violations` (set them with `set_violations`); a record read
    back has the counts only.
    """

    records_analyzed: int = 0
    statistics: Statistics | None = None
    violations: list[Violation] = field(default_factory=list)
    violations_by_check: dict[str, int] = field(default_factory=dict)
    counts: RunCounts = field(default_factory=RunCounts)
    feature_drift: dict[str, float] = field(default_factory=dict)  # feature -> distance
    feature_p_value: dict[str, float] = field(default_factory=dict)  # feature -> ChiSquared p
    baseline_features: list[str] = field(default_factory=list)  # what per-feature series cover

    def __post_init__(self) -> None:
        if self.violations and not self.violations_by_check:
            self.set_violations(self.violations)

    @property
    def violation_count(self) -> int:
        return sum(self.violations_by_check.values())

    def end_early(self, status: Status, reason: str) -> None:
        """End as Failed or Stopped: no statistics or violations are reported, only why."""
        RunResult.end_early(self, status, reason)  # slotted dataclasses have no zero-arg super()
        self.statistics = None
        self.set_violations([])
        self.feature_drift, self.feature_p_value = {}, {}

    def set_violations(self, violations: list[Violation]) -> None:
        self.violations = violations
        self.violations_by_check = dict(Counter(v.constraint_check_type for v in violations))

    def to_json(self, job: MonitoringJob) -> dict[str, Any]:
        """execution.json: the status, why, what was read and what was found."""
        return {
            "status": self.status,
            "message": self.message,
            "failure_reason": self.failure_reason,
            "stop_reason": self.stop_reason,
            "endpoint_name": job.endpoint_name,
            "variant_name": job.variant_name,
            "window": {"start": iso(job.start), "end": iso(job.end)},
            "captures": job.captures,
            "baseline_statistics": job.baseline_statistics,
            "baseline_constraints": job.baseline_constraints,
            "output": job.output,
            "options": {
                "monitor": job.monitor,
                "output_columns": job.output_columns,
                "record_hook": job.record_hook,
                "workers": job.workers,
                "max_runtime": job.max_runtime,
            },
            "records_analyzed": self.records_analyzed,
            "counts": self.counts.to_json(),
            "violations": self.violation_count,
            "violations_by_check": {c: self.violations_by_check.get(c, 0) for c in CHECK_TYPES},
            "feature_drift": self.feature_drift,
            "feature_drift_p_value": self.feature_p_value,
            "baseline_features": self.baseline_features,
            "warnings": self.warnings,
            "output_files": self.output_files,
            "finished_at": iso(self.finished_at or datetime.now(UTC)),
            "duration_seconds": round(self.duration_seconds, 3),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ExecutionResult:
        """A record written by `to_json` (statistics and violation texts are not in it)."""
        return cls(
            **run_fields(raw),
            records_analyzed=int(raw.get("records_analyzed") or 0),
            violations_by_check=numbers(raw.get("violations_by_check"), int),
            counts=RunCounts.from_json(raw.get("counts") or {}),
            feature_drift=numbers(raw.get("feature_drift"), float),
            feature_p_value=numbers(raw.get("feature_drift_p_value"), float),
            baseline_features=[str(n) for n in raw.get("baseline_features") or []],
        )


def run_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The `RunResult` fields of any monitor's execution.json, read back."""
    window = raw.get("window") or {}
    return {
        "status": Status.parse(raw.get("status")),
        "message": str(raw.get("message") or ""),
        "failure_reason": raw.get("failure_reason"),
        "stop_reason": raw.get("stop_reason"),
        "warnings": [str(w) for w in raw.get("warnings") or []],
        "output_files": [str(u) for u in raw.get("output_files") or []],
        "endpoint_name": str(raw.get("endpoint_name") or ""),
        "variant_name": str(raw.get("variant_name") or ""),
        "start": parse_iso(window.get("start")),
        "end": parse_iso(window.get("end")),
        "duration_seconds": float(raw.get("duration_seconds") or 0.0),
        "finished_at": parse_iso(raw.get("finished_at")),
    }


def numbers(raw: object, kind: Callable[[Any], _Number]) -> dict[str, _Number]:
    """A name -> number mapping read back from a record (entries that are no number left out)."""
    if not isinstance(raw, Mapping):
        return {}
    found: dict[str, _Number] = {}
    for key, value in raw.items():
        try:
            found[str(key)] = kind(value)
        except (TypeError, ValueError):
            continue
    return found
