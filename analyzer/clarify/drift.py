"""Drift against the baseline, as SageMaker's Clarify monitors define it.

Bias (`bias_drift_check`): a metric is worse than the baseline when it is farther from its
neutral value: |value| > |baseline| for the metrics whose neutral value is 0. DI, a ratio whose
neutral value is 1, is compared by |ln DI|, so that 0.5 and 2 (the same disparity either way
round) are equally far from parity. A metric undefined in the window (null) or in the baseline
cannot be compared: it is reported as a warning, not a violation.

Feature attribution (`feature_attribution_drift_check`): the nDCG of the window's ranking of the
features by global SHAP value against the baseline's; below 0.9 is a violation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analyzer.clarify.bias import metric_values
from analyzer.clarify.config import AnalysisConfig
from analyzer.clarify.names import NEUTRAL_ONE

BIAS_DRIFT_CHECK = "bias_drift_check"
ATTRIBUTION_DRIFT_CHECK = "feature_attribution_drift_check"
NDCG_THRESHOLD = 0.9


@dataclass(frozen=True, slots=True)
class BiasViolation:
    facet: str
    facet_value: str
    metric_name: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {
            "facet": self.facet,
            "facet_value": self.facet_value,
            "metric_name": self.metric_name,
            "constraint_check_type": BIAS_DRIFT_CHECK,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class AttributionViolation:
    label: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {
            "label": self.label,
            "metric_name": "shap",
            "constraint_check_type": ATTRIBUTION_DRIFT_CHECK,
            "description": self.description,
        }


Key = tuple[str, str, str]  # (facet, facet value as configured, metric)


def keyed(config: AnalysisConfig, section: Mapping[str, Any] | None) -> dict[Key, float]:
    """A stage section's values keyed by the facet value *as configured*: a threshold's group is
    "40" whatever the window's maximum makes its interval text ("(40, 85]")."""
    if not section:
        return {}
    configured = {f.name: ",".join(map(str, f.values)) for f in config.facets if f.values}
    found: dict[Key, float] = {}
    for (facet, text, metric), value in metric_values(dict(section)).items():
        found[(facet, configured.get(facet, text), metric)] = value
    return found


def distance(metric: str, value: float) -> float:
    """How far a value is from its metric's neutral value (see the module docstring)."""
    if metric in NEUTRAL_ONE:
        return math.inf if value <= 0 else abs(math.log(value))
    return abs(value)


def bias_violations(
    baseline: Mapping[Key, float], current: Mapping[Key, float]
) -> tuple[list[BiasViolation], list[str]]:
    """One violation per metric farther from neutral than the baseline's; warnings for metrics
    that cannot be compared."""
    violations: list[BiasViolation] = []
    undefined: list[str] = []
    for key, value in current.items():
        facet, facet_value, metric = key
        reference = baseline.get(key)
        if reference is None:
            continue
        if math.isnan(value) or math.isnan(reference):
            undefined.append(f"{metric} ({facet}={facet_value})")
            continue
        if distance(metric, value) > distance(metric, reference):
            violations.append(
                BiasViolation(
                    facet,
                    facet_value,
                    metric,
                    f"Value {value!r} does not meet the constraint requirement "
                    f"(baseline {reference!r})",
                )
            )
    warnings = []
    if undefined:
        warnings.append(
            f"{len(undefined)} bias metrics are undefined in this window or the baseline and were "
            f"not compared: {', '.join(undefined[:8])}{' ...' if len(undefined) > 8 else ''}"
        )
    return violations, warnings


def ndcg(baseline: Mapping[str, float], current: Mapping[str, float]) -> float:
    """SageMaker's nDCG: features ranked by the window's attributions, gains the baseline's
    attributions, normalised by the baseline's own ranking (1.0 when the order is unchanged)."""
    features = [f for f in baseline if f in current]
    ideal = sorted((baseline[f] for f in features), reverse=True)
    ranked = sorted(features, key=lambda f: current[f], reverse=True)
    dcg = sum(baseline[f] / math.log2(i + 2) for i, f in enumerate(ranked))
    idcg = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 1.0


def attribution_violation(label: str, score: float) -> AttributionViolation | None:
    if score >= NDCG_THRESHOLD:
        return None
    return AttributionViolation(
        label, f"Feature attribution drift {score!r} exceeds threshold {NDCG_THRESHOLD}"
    )
