"""Constraints: what a baseline allows, for data quality (constraints.json's `features` and
`monitoring_config`) and model quality (one threshold per metric).

`from_json` accepts SageMaker's own files (integers where floats are expected, `version: 0`, the old
`comparion_method` spelling); `to_json` writes them as SageMaker's pre-built container does.
Reading and writing the files is `analyzer.reporting`'s job.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from analyzer.errors import BaselineError
from analyzer.profiling.statistics import float_or_none, require_field
from analyzer.profiling.types import UNKNOWN

ENABLED = "Enabled"
DISABLED = "Disabled"
COMPARISON_METHODS = ("Simple", "Robust")
CATEGORICAL_DRIFT_METHODS = ("LInfinity", "ChiSquared")


@dataclass(slots=True)
class FeatureConstraint:
    """One entry of constraints.json `features`; None leaves a constraint out of the file.

    Per-feature overrides of `monitoring_config` (analyzer.checking.overrides applies them) are
    read where they are written: `monitoring_config_overrides` (the SageMaker SDK's
    `Constraints.set_monitoring(False, feature_name=...)`), `monitoringConfigOverrides` (AWS's
    schema page) and `string_constraints.monitoring_config_overrides` (older SDKs); each is
    written back in its place.
    """

    name: str
    inferred_type: str
    completeness: float | None = None
    is_non_negative: bool | None = None
    domains: list[str] | None = None
    monitoring_config_overrides: dict[str, Any] = field(default_factory=dict)
    string_overrides: dict[str, Any] = field(default_factory=dict)
    overrides_key: str = "monitoringConfigOverrides"  # the spelling the file used

    @property
    def overrides(self) -> dict[str, Any]:
        """Both places merged; the feature-level object wins over the older SDK's."""
        return {**self.string_overrides, **self.monitoring_config_overrides}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "inferred_type": self.inferred_type}
        if self.completeness is not None:
            out["completeness"] = self.completeness
        if self.is_non_negative is not None:
            out["num_constraints"] = {"is_non_negative": self.is_non_negative}
        strings: dict[str, Any] = {}
        if self.domains is not None:
            strings["domains"] = list(self.domains)
        if self.string_overrides:
            strings["monitoring_config_overrides"] = self.string_overrides
        if strings:
            out["string_constraints"] = strings
        if self.monitoring_config_overrides:
            out[self.overrides_key] = self.monitoring_config_overrides
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FeatureConstraint:
        num = raw.get("num_constraints") or {}
        strings = raw.get("string_constraints") or {}
        domains = strings.get("domains")
        non_negative = num.get("is_non_negative")
        key = next((k for k in _OVERRIDE_KEYS if raw.get(k)), _OVERRIDE_KEYS[0])
        return cls(
            name=require_field(raw, "name", str, "constraint feature"),
            inferred_type=str(raw.get("inferred_type", UNKNOWN)),
            completeness=float_or_none(raw.get("completeness")),
            is_non_negative=bool(non_negative) if non_negative is not None else None,
            domains=[str(d) for d in domains] if isinstance(domains, list) else None,
            monitoring_config_overrides=_mapping(raw.get(key)),
            string_overrides=_mapping(strings.get("monitoring_config_overrides")),
            overrides_key=key,
        )


# AWS's schema page spells it in camel case, the SageMaker SDK in snake case.
_OVERRIDE_KEYS = ("monitoringConfigOverrides", "monitoring_config_overrides")


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BaselineError(f"monitoring_config_overrides must be an object, got {value!r}")
    return dict(value)


@dataclass(slots=True)
class MonitoringConfig:
    """`monitoring_config`, with the values SageMaker's baseline job writes.

    AWS's constraints schema page gives 0.1 as the default of datatype_check_threshold and
    domain_content_threshold; baseline jobs write 1.0 (their data_type_check texts read
    "Expected match: 100.0%"), and so do we, also for keys a file leaves out.
    """

    evaluate_constraints: str = ENABLED
    emit_metrics: str = ENABLED
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: str = ENABLED
    comparison_threshold: float = 0.1
    comparison_method: str = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: str = "LInfinity"

    def to_json(self) -> dict[str, Any]:
        """SageMaker's layout: the comparison settings under `distribution_constraints`."""
        out: dict[str, Any] = {}
        distribution: dict[str, Any] = {}
        for item in fields(self):
            target = distribution if item.name in _DISTRIBUTION_KEYS else out
            target[item.name] = getattr(self, item.name)
        out["distribution_constraints"] = distribution
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> MonitoringConfig:
        """Read `monitoring_config`; absent keys take the defaults above."""
        raw = raw or {}
        distribution = dict(raw.get("distribution_constraints") or {})
        if "comparison_method" not in distribution and "comparion_method" in distribution:
            distribution["comparison_method"] = distribution["comparion_method"]  # old spelling
        values: dict[str, Any] = {}
        for item in fields(cls):
            source = distribution if item.name in _DISTRIBUTION_KEYS else raw
            if source.get(item.name) is not None:
                kind = float if isinstance(item.default, float) else str
                values[item.name] = kind(source[item.name])
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.comparison_method not in COMPARISON_METHODS:
            raise BaselineError(
                f"comparison_method must be one of {COMPARISON_METHODS}, "
                f"got {self.comparison_method!r}"
            )
        if self.categorical_drift_method not in CATEGORICAL_DRIFT_METHODS:
            raise BaselineError(
                f"categorical_drift_method must be one of {CATEGORICAL_DRIFT_METHODS}, "
                f"got {self.categorical_drift_method!r}"
            )


_DISTRIBUTION_KEYS = frozenset(
    {
        "perform_comparison",
        "comparison_threshold",
        "comparison_method",
        "categorical_comparison_threshold",
        "categorical_drift_method",
    }
)


@dataclass(slots=True)
class Constraints:
    """A whole constraints.json."""

    features: list[FeatureConstraint]
    monitoring_config: MonitoringConfig = field(default_factory=MonitoringConfig)
    version: float = 0.0

    def feature(self, name: str) -> FeatureConstraint | None:
        for feature in self.features:
            if feature.name == name:
                return feature
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "features": [f.to_json() for f in self.features],
            "monitoring_config": self.monitoring_config.to_json(),
        }

    @classmethod
    def from_json(cls, raw: Any) -> Constraints:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("features"), list):
            raise BaselineError("not a constraints file: expected an object with a 'features' list")
        return cls(
            features=[FeatureConstraint.from_json(f) for f in raw["features"]],
            monitoring_config=MonitoringConfig.from_json(raw.get("monitoring_config")),
            version=float(raw.get("version", 0.0)),
        )


LESS = "LessThanThreshold"
GREATER = "GreaterThanThreshold"
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    LESS: operator.lt,
    GREATER: operator.gt,
    "LessThanOrEqualToThreshold": operator.le,
    "GreaterThanOrEqualToThreshold": operator.ge,
}


@dataclass(frozen=True, slots=True)
class MetricConstraint:
    """One model-quality constraint: the metric, its threshold and SageMaker's operator name."""

    metric: str
    threshold: float
    comparison_operator: str
