"""What a Clarify monitoring job is asked to do, its outcome, and its execution.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.job import DEFAULT_LABEL_WINDOW
from analyzer.reporting.execution import iso

BIAS = "ModelBias"
EXPLAINABILITY = "ModelExplainability"
EXIT_CODES = {"Completed": 0, "CompletedWithViolations": 1}


@dataclass(slots=True)
class BiasJob:
    """`bias-run`: `start`/`end` timezone-aware; labels read to `end + label_window`."""

    captures: str
    endpoint_name: str
    variant_name: str
    analysis_config: str
    baseline_constraints: str
    start: datetime
    end: datetime
    output: str
    ground_truth: str | None = None  # without it only CI, DPPL, DI and CDDPL are measured
    inference_attribute: str | None = None  # default: the config's predictor.label
    probability_attribute: str | None = None  # default: the config's predictor.probability
    probability_threshold: float | None = None  # default: the config's, else 0.5
    label_window: timedelta = DEFAULT_LABEL_WINDOW
    read_concurrency: int = 4


@dataclass(slots=True)
class ClarifyResult:
    monitoring_type: str
    status: str = "Failed"  # Completed | CompletedWithViolations | Failed
    failure_reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    analysis: dict[str, Any] | None = None
    violations: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # nDCG per label, model calls, ...
    duration_seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 2)

    @property
    def message(self) -> str:
        if self.status == "Failed":
            return f"Failed: {self.failure_reason}"
        if self.violations:
            return (
                "CompletedWithViolations: Job completed successfully with "
                f"{len(self.violations)} violations."
            )
        return "Completed: Job completed successfully with no violations."


def execution_record(
    result: ClarifyResult, window: tuple[datetime | None, datetime | None], job: dict[str, Any]
) -> dict[str, Any]:
    """execution.json of a bias or feature attribution run (`job`: what it was asked)."""
    return {
        "status": result.status,
        "message": result.message,
        "failure_reason": result.failure_reason,
        "monitoring_type": result.monitoring_type,
        "window": {"start": iso(window[0]), "end": iso(window[1])},
        **job,
        "counts": result.counts,
        **result.details,
        "violations": len(result.violations),
        "warnings": result.warnings,
        "output_files": result.output_files,
        "finished_at": iso(datetime.now(UTC)),
        "duration_seconds": round(result.duration_seconds, 3),
    }
