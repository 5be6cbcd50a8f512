"""What a Clarify monitoring job is asked to do, its outcome, and its execution.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from analyzer.job import DEFAULT_LABEL_WINDOW, RunJob
from analyzer.reporting.execution import iso
from analyzer.results.counts import Counts
from analyzer.results.outcome import RunResult
from analyzer.results.quality_counts import QualityCounts

BIAS = "ModelBias"
EXPLAINABILITY = "ModelExplainability"


@dataclass(slots=True)
class BiasJob(RunJob):
    """`bias-run`, beyond `RunJob`'s window: labels are read to `end + label_window`."""

    analysis_config: str
    baseline_constraints: str
    ground_truth: str | None = None  # without it only CI, DPPL, DI and CDDPL are measured
    inference_attribute: str | None = None  # default: the config's predictor.label
    probability_attribute: str | None = None  # default: the config's predictor.probability
    probability_threshold: float | None = None  # default: the config's, else 0.5
    label_window: timedelta = DEFAULT_LABEL_WINDOW
    read_concurrency: int = 4


@dataclass(slots=True)
class BiasCounts(QualityCounts):
    """The join's counts, and the captures whose input lacked a facet."""

    WARNINGS: ClassVar[Mapping[str, str]] = {
        **QualityCounts.WARNINGS,
        "captures_without_facet": "captures lack a facet or the group variable in their input "
        "(left out)",
    }

    captures_without_facet: int = 0


@dataclass(slots=True)
class AttributionCounts(Counts):
    """What an attribution run read: its captured inputs or dataset rows."""

    WARNINGS: ClassVar[Mapping[str, str]] = {
        "unreadable_capture_files": "capture files could not be read",
        "malformed_captures": "capture lines are not capture records (skipped)",
        "rows_without_numbers": "rows lack a number for some feature (not explained)",
    }

    capture_files: int = 0
    unreadable_capture_files: int = 0
    captures: int = 0
    malformed_captures: int = 0
    rows_without_numbers: int = 0


@dataclass(slots=True)
class ClarifyResult(RunResult):
    """The outcome of one bias or feature attribution run, also written as execution.json."""

    monitoring_type: str = BIAS
    counts: Counts = field(default_factory=AttributionCounts)
    analysis: dict[str, Any] | None = None
    violations: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # nDCG per label, model calls, ...

    @property
    def violation_count(self) -> int:
        return len(self.violations)


# Drawn over time on the history page (execution.json's `metrics`): the label-free bias metrics
# of each facet group, so every hour has them; the nDCG and the leading features' SHAP values.
HISTORY_BIAS_METRICS = ("DPPL", "DI", "CI")
HISTORY_FEATURES = 8


def attribution_headlines(
    label: str, values: Mapping[str, float], ndcg: float | None
) -> dict[str, float]:
    found = {} if ndcg is None else {f"nDCG {label}": ndcg}
    for feature in sorted(values, key=lambda f: -values[f])[:HISTORY_FEATURES]:
        found[f"SHAP {feature}"] = values[feature]
    return found


def execution_record(
    result: ClarifyResult, window: tuple[datetime | None, datetime | None], job: dict[str, Any]
) -> dict[str, Any]:
    """execution.json of a bias or feature attribution run (`job`: what it was asked)."""
    return {
        "status": result.status,
        "message": result.describe(),
        "failure_reason": result.failure_reason,
        "monitoring_type": result.monitoring_type,
        "window": {"start": iso(window[0]), "end": iso(window[1])},
        **job,
        "counts": result.counts.to_json(),
        **result.details,
        "violations": len(result.violations),
        "warnings": result.warnings,
        "output_files": result.output_files,
        "finished_at": iso(datetime.now(UTC)),
        "duration_seconds": round(result.duration_seconds, 3),
    }
