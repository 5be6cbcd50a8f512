"""The outcome of a model-quality run and its execution.json (status, join counts, delays)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from analyzer.results.quality_counts import QualityCounts
from analyzer.results.violations import QualityViolation

if TYPE_CHECKING:
    from analyzer.job import QualityJob

EXIT_CODES = {"Completed": 0, "CompletedWithViolations": 1}


@dataclass(slots=True)
class QualityResult:
    status: str  # Completed | CompletedWithViolations | Failed
    message: str
    failure_reason: str | None = None
    counts: QualityCounts = field(default_factory=QualityCounts)
    statistics: dict[str, Any] | None = None
    metric_values: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)  # the baseline constraints'
    estimated: dict[str, Any] | None = None
    estimate_vs_realised: dict[str, Any] = field(default_factory=dict)
    violations: list[QualityViolation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)
    label_delay_seconds: tuple[float, float] | None = None  # (mean, max), hour resolution
    duration_seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 2)


def message(result: QualityResult) -> str:
    if result.status == "Failed":
        return f"Failed: {result.failure_reason}"
    if result.violations:
        return (
            "CompletedWithViolations: Job completed successfully with "
            f"{len(result.violations)} violations."
        )
    return "Completed: Job completed successfully with no violations."


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        "window": {"start": _iso(job.start), "end": _iso(job.end)},
        "label_window": {"start": _iso(job.start), "end": _iso(job.end + job.label_window)},
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
        "finished_at": _iso(datetime.now(UTC)),
        "duration_seconds": round(result.duration_seconds, 3),
    }
