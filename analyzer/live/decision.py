"""The live decision: which violations of a window are raised, so a day of steps stays quiet.

`run` checks an hour once; `watch` checks every feature again every step, 1,440 times a day at
`--step 1m`. A check that is wrong with probability p per test is wrong somewhere about
p x features x evaluations times a day, so the live path keeps a violation found by the very
checks of `run` (same thresholds, same wording) only when the data also make it significant at a
per-test level corrected for all those tests (Bonferroni):

    alpha_test = false_alarms_per_day / (features x evaluations_per_day x scales)

with `false_alarms_per_day` 0.01 by default (one false alarm in about a hundred days of every
feature). Each check gets the test its statistic calls for:

- baseline_drift_check (L-infinity between CDFs or frequencies): the raw distance must exceed
  c * sqrt((n + m) / (n m)) plus the sketches' rank error, c = sqrt(ln(2 / alpha_test) / 2)
  (the two-sample Kolmogorov-Smirnov / DKW tail bound 2 exp(-2 c^2)); ChiSquared: p < alpha_test.
- completeness_check, data_type_check, categorical_values_check (a share below a required
  share): the one-sided Chernoff bound exp(-N KL(observed || required)) must be < alpha_test.
  A required share of 1 (no missing value in the baseline, every value numeric) needs no test:
  traffic like the baseline cannot break it.
- missing_column_check and extra_column_check count columns, not samples: kept as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analyzer.checking import drift
from analyzer.live.timeline import DAY_SECONDS
from analyzer.profiling import kll
from analyzer.profiling.types import STRING
from analyzer.profiling.view import FeatureView
from analyzer.reporting.baseline_files import Constraints, FeatureStatistics, Statistics
from analyzer.results.violations import (
    BASELINE_DRIFT_CHECK,
    CATEGORICAL_VALUES_CHECK,
    COMPLETENESS_CHECK,
    DATA_TYPE_CHECK,
    Violation,
)

DEFAULT_FALSE_ALARMS_PER_DAY = 0.01
SCALES = 2  # the whole window and its newest third (see analyzer.live.evaluation)


@dataclass(frozen=True, slots=True)
class LiveDecision:
    """The corrected per-test level for `features` checked every `step` seconds."""

    features: int
    step: float
    false_alarms_per_day: float = DEFAULT_FALSE_ALARMS_PER_DAY

    @property
    def tests_per_day(self) -> float:
        return max(1, self.features) * max(1.0, DAY_SECONDS / self.step) * SCALES

    @property
    def alpha(self) -> float:
        return self.false_alarms_per_day / self.tests_per_day

    @property
    def c(self) -> float:
        """The multiplier of the two-sample noise scale a distance must pass."""
        return math.sqrt(math.log(2 / self.alpha) / 2)

    def keep(
        self,
        violation: Violation,
        baseline: Statistics,
        constraints: Constraints,
        feature: FeatureView | None,
    ) -> bool:
        """Whether a violation of the window is significant at the corrected level."""
        kind = violation.constraint_check_type
        if feature is None:
            return True
        if kind == BASELINE_DRIFT_CHECK:
            base = baseline.feature(violation.feature_name)
            return base is not None and self._drift_significant(base, feature, constraints)
        constraint = next(
            (c for c in constraints.features if c.name == violation.feature_name), None
        )
        config = constraints.monitoring_config
        if kind == COMPLETENESS_CHECK and constraint is not None:
            required = constraint.completeness or 0.0
            total = feature.present + feature.missing
            return self._share_significant(feature.present, total, required)
        if kind == DATA_TYPE_CHECK and constraint is not None:
            matching = (
                feature.integral if constraint.inferred_type == "Integral" else feature.numeric
            )
            return self._share_significant(
                matching, feature.present, config.datatype_check_threshold
            )
        if kind == CATEGORICAL_VALUES_CHECK and constraint is not None:
            domain = set(constraint.domains or ())
            inside = sum(n for value, n in feature.categorical.items() if value in domain)
            total = feature.present + feature.missing
            return self._share_significant(
                inside + feature.missing, total, config.domain_content_threshold
            )
        return True

    def _share_significant(self, good: int, total: int, required: float) -> bool:
        """A share `good / total` below `required` that chance alone hardly gives."""
        if total == 0:
            return False
        if required >= 1.0:
            return True
        observed = good / total
        if observed >= required:
            return False
        return math.exp(-total * _bernoulli_kl(observed, required)) < self.alpha

    def _drift_significant(
        self, base: FeatureStatistics, feature: FeatureView, constraints: Constraints
    ) -> bool:
        config = constraints.monitoring_config
        if base.is_numeric:
            ours = kll.WeightedSamples.from_levels(
                [list(level) for level in feature.numeric_levels]
            )
            theirs = kll.WeightedSamples.from_levels(base.kll_sketch)
            distance = kll.linf_distance(theirs, ours)
            return self.distance_significant(distance, ours.n, theirs.n)
        if base.inferred_type != STRING:
            return True
        expected = {b.value: float(b.count) for b in base.categorical_buckets}
        observed = {k: float(v) for k, v in feature.categorical.items()}
        if config.categorical_drift_method == drift.CHI_SQUARED:
            return drift.chi_squared_p_value(observed, expected) < self.alpha
        distance = drift.frequency_linf(expected, observed)
        return self.distance_significant(distance, sum(observed.values()), sum(expected.values()))

    def distance_significant(self, distance: float, n: float, m: float) -> bool:
        """An L-infinity distance between samples of sizes n and m beyond the corrected noise."""
        if n <= 0 or m <= 0:
            return False
        noise = self.c * math.sqrt((n + m) / (n * m)) + drift.DISTANCE_ERROR_BOUND
        return distance > noise


def _bernoulli_kl(p: float, q: float) -> float:
    """KL(Bernoulli(p) || Bernoulli(q)) for 0 <= p < q < 1."""

    def term(a: float, b: float) -> float:
        return 0.0 if a == 0 else a * math.log(a / b)

    return term(p, q) + term(1 - p, 1 - q)
