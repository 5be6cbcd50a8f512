"""The outcome of a model-quality run and its execution.json (status, join counts, delays)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from analyzer.reporting.execution import iso, numbers, run_fields
from analyzer.results.constraints import MetricConstraint
from analyzer.results.outcome import RunResult
from analyzer.results.quality_counts import QualityCounts
from analyzer.results.violations import QualityViolation

if TYPE_CHECKING:
    from analyzer.job import QualityJob


@dataclass(slots=True)
class QualityResult(RunResult):
    """The outcome of one model-quality run, also written as execution.json."""

    counts: QualityCounts = field(default_factory=QualityCounts)
    statistics: dict[str, Any] | None = None
    metric_values: dict[str, float] = field(default_factory=dict)
    constraints: list[MetricConstraint] = field(default_factory=list)  # the baseline's
    estimated: dict[str, Any] | None = None
    estimate_vs_realised: dict[str, Any] = field(default_factory=dict)
    violations: list[QualityViolation] = field(default_factory=list)
    label_delay_seconds: tuple[float, float] | None = None  # (mean, max), hour resolution

    @property
    def violation_count(self) -> int:
        return len(self.violations)

    @property
    def thresholds(self) -> dict[str, float]:
        """Metric -> the baseline constraint's threshold."""
        return {c.metric: c.threshold for c in self.constraints}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> QualityResult:
        """A record written by `execution_record` (statistics and violations are not in it)."""
        return cls(
            **run_fields(raw),
            counts=QualityCounts.from_json(raw.get("counts") or {}),
            metric_values=numbers(raw.get("metrics"), float),
        )


def execution_record(result: QualityResult, job: QualityJob) -> dict[str, Any]:
    """execution.json of a model-quality run."""
    delay = result.label_delay_seconds
    return {
        "status": result.status,
        "message": result.message,
        "failure_reason": result.failure_reason,
        "monitoring_type": "ModelQuality",
        "endpoint_name": job.endpoint_name,
        "variant_name": job.variant_name,
        "window": {"start": iso(job.start), "end": iso(job.end)},
        "label_window": {"start": iso(job.start), "end": iso(job.end + job.label_window)},
        "captures": job.captures,
        "ground_truth": job.ground_truth,
        "baseline_constraints": job.baseline_constraints,
        "output": job.output,
        "options": {
            "problem_type": job.problem_type,
            "inference_attribute": job.inference_attribute,
            "probability_attribute": job.probability_attribute,
            "probability_threshold": job.probability_threshold,
        },
        "item_count": result.counts.joined,
        "counts": result.counts.to_json(),
        "label_coverage": result.counts.label_coverage,
        "label_delay_seconds": None if delay is None else {"mean": delay[0], "max": delay[1]},
        "metrics": result.metric_values,
        "estimate_vs_realised": result.estimate_vs_realised,
        "violations": len(result.violations),
        "warnings": result.warnings,
        "output_files": result.output_files,
        "finished_at": iso(result.finished_at or datetime.now(UTC)),
        "duration_seconds": round(result.duration_seconds, 3),
    }
