"""Data-quality constraints suggested from baseline statistics (the `baseline` command).

Constraint suggestion follows Deequ's rules as SageMaker's baseline job applies them:
`completeness` is the observed share of non-missing values; numeric features get
`is_non_negative` (min >= 0); a String feature gets `domains` (its values, most frequent first)
when it has at most 120 distinct values (Deequ's low-cardinality histogram threshold) and at most
10% of those values occur only once (Deequ's CategoricalRangeRule).
"""

from __future__ import annotations

from analyzer.profiling.statistics import FeatureStatistics, Statistics
from analyzer.profiling.types import STRING
from analyzer.results.constraints import Constraints, FeatureConstraint, MonitoringConfig

DOMAIN_MAX_DISTINCT = 120
DOMAIN_MAX_SINGLETON_SHARE = 0.1


def suggest_constraints(
    stats: Statistics, monitoring_config: MonitoringConfig | None = None
) -> Constraints:
    """Constraints a monitoring run checks, suggested from baseline statistics."""
    features = []
    for feature in stats.features:
        constraint = FeatureConstraint(
            name=feature.name,
            inferred_type=feature.inferred_type,
            completeness=feature.completeness,
        )
        if feature.is_numeric:
            constraint.is_non_negative = feature.min is not None and feature.min >= 0
        elif feature.inferred_type == STRING:
            constraint.domains = suggested_domain(feature)
        features.append(constraint)
    return Constraints(features=features, monitoring_config=monitoring_config or MonitoringConfig())


def suggested_domain(feature: FeatureStatistics) -> list[str] | None:
    """The allowed values of a low-cardinality String feature, most frequent first, else None."""
    buckets = feature.categorical_buckets
    distinct = feature.distinct_count if feature.distinct_count is not None else len(buckets)
    if not buckets or distinct > DOMAIN_MAX_DISTINCT or len(buckets) < distinct:
        return None
    singletons = sum(1 for b in buckets if b.count == 1)
    if singletons / len(buckets) > DOMAIN_MAX_SINGLETON_SHARE:
        return None
    ordered = sorted(buckets, key=lambda b: (-b.count, b.value))
    return [b.value for b in ordered]
