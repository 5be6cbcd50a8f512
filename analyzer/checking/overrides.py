"""Per-feature `monitoring_config` overrides: the settings one feature is checked with.

A feature's overrides (either place constraints.json holds them, see FeatureConstraint) replace
the file's `monitoring_config` keys for that feature only: `{"evaluate_constraints": "Disabled"}`
(what the SageMaker SDK's `set_monitoring(False, feature_name=...)` writes) turns off that
feature's checks while the others still run, and `Enabled` turns them on for one feature of a
file whose checks are off. Threshold and method keys may be given flat or under
`distribution_constraints`, as in `monitoring_config`.
"""

from __future__ import annotations

from typing import Any

from analyzer.errors import BaselineError
from analyzer.results.constraints import (
    DISABLED,
    ENABLED,
    FeatureConstraint,
    MonitoringConfig,
)

_SWITCHES = ("evaluate_constraints", "emit_metrics", "perform_comparison")


def feature_config(config: MonitoringConfig, constraint: FeatureConstraint) -> MonitoringConfig:
    """The file's config with the feature's overrides applied (the same object when none)."""
    overrides = constraint.overrides
    if not overrides:
        return config
    document = config.to_json()
    distribution: dict[str, Any] = document["distribution_constraints"]
    nested = overrides.get("distribution_constraints") or {}
    if not isinstance(nested, dict):
        raise BaselineError(
            f"feature {constraint.name}: distribution_constraints must be an object"
        )
    for key, value in {**overrides, **nested}.items():
        if key in distribution:
            distribution[key] = value
        elif key in document and key != "distribution_constraints":
            document[key] = value
    try:
        merged = MonitoringConfig.from_json(document)
    except (BaselineError, TypeError, ValueError) as exc:
        raise BaselineError(
            f"feature {constraint.name}: monitoring_config_overrides: {exc}"
        ) from exc
    for key in _SWITCHES:
        if getattr(merged, key) not in (ENABLED, DISABLED):
            raise BaselineError(
                f"feature {constraint.name}: monitoring_config_overrides.{key} must be "
                f"{ENABLED} or {DISABLED}, got {getattr(merged, key)!r}"
            )
    return merged
