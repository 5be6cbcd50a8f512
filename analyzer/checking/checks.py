"""Constraint checks: the current data against the baseline -> SageMaker-style violations.

Change to ANALYZER.md: `evaluate(baseline, constraints, current, view, expected_columns)`
returns an `Evaluation` (`.violations`, and `.feature_drift` / `.feature_p_value` for the
metrics), not a bare list. Checks read immutable inputs only: statistics and the profile's
`ProfileView` (DatasetProfile.view()), never the mutable profile.

One function per `constraint_check_type`. Description texts follow SageMaker's pre-built
container where its wording is known: data_type_check and baseline_drift_check; the
`Value: … does not meet the constraint requirement! ` form (Deequ's, as in the SDK's sample
violations file) for completeness_check and categorical_values_check. The column checks, whose
wording is not published, name the column and both column counts.

`feature_drift` holds, per feature, exactly the number baseline_drift_check compares with its
threshold: the L-infinity distance after `comparison_method` (so the Robust-adjusted value when
the baseline says Robust, SageMaker's default). A Prometheus alert `drift > threshold` at the
monitoring_config threshold therefore fires for exactly the features that get a violation.
String features compared with ChiSquared have a p-value instead (small = drift), which would
invert such an alert: it goes to `feature_p_value`, never to `feature_drift`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from analyzer.checking import drift
from analyzer.checking.overrides import feature_config
from analyzer.profiling.statistics import FeatureStatistics, Statistics
from analyzer.profiling.types import FRACTIONAL, INTEGRAL, NUMERIC_TYPES, STRING
from analyzer.profiling.view import FeatureView, ProfileView
from analyzer.results.constraints import ENABLED, Constraints, FeatureConstraint, MonitoringConfig
from analyzer.results.violations import (
    BASELINE_DRIFT_CHECK,
    CATEGORICAL_VALUES_CHECK,
    CHECK_TYPES,
    COMPLETENESS_CHECK,
    DATA_TYPE_CHECK,
    EXTRA_COLUMN_CHECK,
    MISSING_COLUMN_CHECK,
    Violation,
)


@dataclass(slots=True)
class Evaluation:
    """Violations, plus what the drift check measured for every feature it could compare."""

    violations: list[Violation] = field(default_factory=list)
    feature_drift: dict[str, float] = field(default_factory=dict)  # distance; > threshold: drift
    feature_p_value: dict[str, float] = field(default_factory=dict)  # ChiSquared; < threshold

    def record_drift(
        self, name: str, value: float, baseline: FeatureStatistics, config: MonitoringConfig
    ) -> None:
        """Distances go to `feature_drift`, ChiSquared p-values to `feature_p_value`."""
        if _is_p_value(baseline, config):
            self.feature_p_value[name] = value
        else:
            self.feature_drift[name] = value


def java_double(value: float) -> str:
    """A float as Java's Double.toString writes it (SageMaker's texts come from the JVM)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    magnitude = abs(value)
    if value == 0 or 1e-3 <= magnitude < 1e7:
        text = repr(float(value))
        return text if ("." in text or "e" in text) else text + ".0"
    # Shortest round-trip digits (as Java 19+ picks them) in computerized scientific notation.
    _, digits, exponent = Decimal(repr(float(magnitude))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    mantissa = f"{text[0]}.{text[1:] or '0'}"
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}E{len(text) - 1 + exponent}"


def _percent(share: float) -> str:
    return java_double(share * 100.0)


def _deequ_text(value: float) -> str:
    return f"Value: {java_double(value)} does not meet the constraint requirement! "


def data_type_violation(
    constraint: FeatureConstraint, feature: FeatureView, threshold: float
) -> Violation | None:
    """Share of present values of the expected type (Integral counts as Fractional) < threshold."""
    expected = constraint.inferred_type
    if expected not in NUMERIC_TYPES or feature.present == 0:
        return None
    matching = feature.integral if expected == INTEGRAL else feature.numeric
    share = matching / feature.present
    if share >= threshold:
        return None
    return Violation(
        constraint.name,
        DATA_TYPE_CHECK,
        f"Data type match requirement is not met. Expected data type: {expected}, "
        f"Expected match: {_percent(threshold)}%. "
        f"Observed: Only {_percent(share)}% of data is {expected}.",
    )


def completeness_violation(
    constraint: FeatureConstraint, current: FeatureStatistics
) -> Violation | None:
    """Share of non-missing values below the baseline's completeness."""
    if constraint.completeness is None:
        return None
    observed = current.completeness
    if observed >= constraint.completeness:
        return None
    return Violation(constraint.name, COMPLETENESS_CHECK, _deequ_text(observed))


def categorical_values_violation(
    constraint: FeatureConstraint, feature: FeatureView, threshold: float
) -> Violation | None:
    """Share of values inside the baseline's domain below domain_content_threshold.

    As Deequ's `isContainedIn` (`col IS NULL OR col IN (...)`): a missing value does not break
    the domain, so the share is (in the domain + missing) / all values.
    """
    if constraint.domains is None or constraint.inferred_type != STRING or feature.present == 0:
        return None
    domain = set(constraint.domains)
    counts = feature.categorical  # numbers' texts too, while they are tracked
    inside = sum(count for value, count in counts.items() if value in domain)
    share = (inside + feature.missing) / (feature.present + feature.missing)
    if share >= threshold:
        return None
    return Violation(constraint.name, CATEGORICAL_VALUES_CHECK, _deequ_text(share))


def drift_distance(
    baseline: FeatureStatistics,
    current: FeatureStatistics,
    feature: FeatureView | None,
    config: MonitoringConfig,
) -> float | None:
    """Baseline distance of one feature, or None when the two cannot be compared."""
    if baseline.is_numeric:
        if not baseline.kll_sketch:
            return None
        if feature is not None:
            if feature.numeric == 0:
                return None
            # Numeric values are compared even in a column that also holds strings.
            current = FeatureStatistics(
                name=current.name,
                inferred_type=FRACTIONAL,
                kll_sketch=[list(level) for level in feature.numeric_levels],
            )
        elif not current.is_numeric or not current.kll_sketch:
            return None
        return drift.numeric_distance(baseline, current, config.comparison_method)
    if baseline.inferred_type == STRING and current.inferred_type == STRING:
        if not baseline.categorical_buckets or not current.categorical_buckets:
            return None
        return drift.categorical_distance(
            baseline, current, config.categorical_drift_method, config.comparison_method
        )
    return None


def _is_p_value(baseline: FeatureStatistics, config: MonitoringConfig) -> bool:
    return not baseline.is_numeric and config.categorical_drift_method == drift.CHI_SQUARED


def drift_violation(
    name: str, distance: float, baseline: FeatureStatistics, config: MonitoringConfig
) -> Violation | None:
    """baseline_drift_check: a distance above its threshold, or a p-value below it."""
    if baseline.is_numeric:
        threshold, method = config.comparison_threshold, drift.LINFINITY
    else:
        threshold, method = config.categorical_comparison_threshold, config.categorical_drift_method
    if not drift.drift_detected(distance, threshold, method):
        return None
    if method == drift.CHI_SQUARED:
        text = (
            f"Baseline drift test p-value: {java_double(distance)} is below threshold: "
            f"{java_double(threshold)}"
        )
    else:
        text = (
            f"Baseline drift distance: {java_double(distance)} exceeds threshold: "
            f"{java_double(threshold)}"
        )
    return Violation(name, BASELINE_DRIFT_CHECK, text)


def column_violations(
    baseline_columns: Sequence[str],
    expected_columns: Iterable[str],
    current_columns: Sequence[str],
) -> list[Violation]:
    """A violation per expected baseline column absent now, and per column new now."""
    known = set(baseline_columns)
    present = set(current_columns)
    sizes = (
        f"Number of columns in current dataset: {len(current_columns)}, "
        f"Number of columns in baseline constraints: {len(baseline_columns)}"
    )
    found: list[Violation] = []
    for name in expected_columns:
        if name in known and name not in present:
            found.append(
                Violation(
                    name,
                    MISSING_COLUMN_CHECK,
                    f"Column {name} of the baseline is missing from the current dataset. {sizes}",
                )
            )
    for name in current_columns:
        if name not in known:
            found.append(
                Violation(
                    name,
                    EXTRA_COLUMN_CHECK,
                    f"Column {name} is not in the baseline constraints. {sizes}",
                )
            )
    return found


def evaluate(
    baseline: Statistics,
    constraints: Constraints,
    current: Statistics,
    view: ProfileView,
    expected_columns: Sequence[str] | None = None,
) -> Evaluation:
    """Every check of DESIGN.md section 6, in constraint (column) order.

    `expected_columns`: the baseline columns this run should see (all of them by default; fewer
    when only one side of the exchanges is monitored). Drift is measured for every comparable
    feature even when `evaluate_constraints` is Disabled. A feature's own overrides
    (analyzer.checking.overrides) decide its checks, thresholds and missing-column check.
    """
    result = Evaluation()
    checked: set[str] = set()
    for constraint in constraints.features:
        config = feature_config(constraints.monitoring_config, constraint)
        if config.evaluate_constraints == ENABLED:
            checked.add(constraint.name)
        current_stats = current.feature(constraint.name)
        feature = view.feature(constraint.name)
        if feature is None or current_stats is None:
            continue
        drift_found = _measure_drift(constraint.name, baseline, current_stats, feature, config)
        if drift_found is not None:
            result.record_drift(constraint.name, *drift_found, config)
        if constraint.name in checked:
            result.violations.extend(
                _feature_violations(constraint, current_stats, feature, config, drift_found)
            )
    names = [f.name for f in constraints.features] or baseline.feature_names
    if not constraints.features and constraints.monitoring_config.evaluate_constraints == ENABLED:
        checked = set(names)
    expected = names if expected_columns is None else expected_columns
    file_checked = constraints.monitoring_config.evaluate_constraints == ENABLED
    for violation in column_violations(names, expected, view.columns):
        # A missing column is its feature's check; a new column has no feature: the file's.
        missing = violation.constraint_check_type == MISSING_COLUMN_CHECK
        if (violation.feature_name in checked) if missing else file_checked:
            result.violations.append(violation)
    return result


def _measure_drift(
    name: str,
    baseline: Statistics,
    current: FeatureStatistics,
    feature: FeatureView,
    config: MonitoringConfig,
) -> tuple[float, FeatureStatistics] | None:
    """The feature's drift value and its baseline statistics, or None if not comparable."""
    base_stats = baseline.feature(name)
    if base_stats is None:
        return None
    distance = drift_distance(base_stats, current, feature, config)
    if distance is None or math.isnan(distance):
        return None
    return distance, base_stats


def _feature_violations(
    constraint: FeatureConstraint,
    current: FeatureStatistics,
    feature: FeatureView,
    config: MonitoringConfig,
    drift_found: tuple[float, FeatureStatistics] | None,
) -> list[Violation]:
    checks = [
        data_type_violation(constraint, feature, config.datatype_check_threshold),
        completeness_violation(constraint, current),
        drift_violation(constraint.name, *drift_found, config)
        if drift_found is not None and config.perform_comparison == ENABLED
        else None,
        categorical_values_violation(constraint, feature, config.domain_content_threshold),
    ]
    return [v for v in checks if v is not None]


__all__ = [
    "CHECK_TYPES",
    "Evaluation",
    "Violation",
    "column_violations",
    "evaluate",
    "java_double",
]
