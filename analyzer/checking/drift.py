"""Distances between a baseline and a current distribution, as Deequ / SageMaker compute them.

Contract additions: `numeric_distance` and `categorical_distance` take `comparison_method`
("Simple" default, or "Robust"); `drift_detected(distance, threshold, method)` says which side
of the threshold is a violation (ChiSquared returns a p-value).

Numeric features: the L-infinity distance between the two CDFs read from the KLL sketches (the
two-sample Kolmogorov-Smirnov statistic of the sketched data). Categorical features: the
L-infinity distance between the two frequency distributions, or a chi-squared test.

`comparison_method` "Simple" returns the distance itself; "Robust" subtracts the sampling noise
expected between two samples of sizes n and m, `max(0, d - 1.8 * sqrt((n + m) / (n * m)))`
(c(alpha) = 1.8, alpha ~ 0.003), as Deequ's `Distance.selectMetrics` does.

Chi-squared (`categorical_drift_method: ChiSquared`) returns the test's p-value, as Deequ's
`categoricalChiSquareTest` does: small values mean drift, so `drift_detected` flags
`p < threshold` for it and `distance > threshold` for every other method.

Error bound against the exact KS statistic on the raw data: each KLL sketch (k = 2048) estimates
every rank within `kll.rank_error()` = 0.00184 of n (99% confidence), so the sketched L-infinity
distance is within `DISTANCE_ERROR_BOUND` = 2 * 0.00184 of the exact one; it is exact while
neither sketch has compacted (fewer than about 2,000 values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from analyzer.errors import BaselineError
from analyzer.profiling import kll
from analyzer.profiling.statistics import FeatureStatistics

DISTANCE_ERROR_BOUND = 2 * kll.rank_error()
ROBUST_C_ALPHA = 1.8
LINFINITY = "LInfinity"
CHI_SQUARED = "ChiSquared"
SIMPLE = "Simple"
ROBUST = "Robust"

# Deequ's regrouping thresholds before a chi-squared test (Yates for > 2 categories, Cochran for 2).
_YATES_ABSOLUTE = 5
_YATES_SHARE = 0.2
_COCHRAN_ABSOLUTE = 10


def numeric_distance(
    baseline: FeatureStatistics, current: FeatureStatistics, comparison_method: str = SIMPLE
) -> float:
    """L-infinity distance between the CDFs of two numeric features' KLL sketches.

    Works for sketches written by SageMaker and by us (both are `sketch.data` levels). 0.0 when
    both are empty, 1.0 when exactly one is.
    """
    a = kll.WeightedSamples.from_levels(baseline.kll_sketch)
    b = kll.WeightedSamples.from_levels(current.kll_sketch)
    distance = kll.linf_distance(a, b)
    return _apply_method(distance, a.n, b.n, comparison_method)


def categorical_distance(
    baseline: FeatureStatistics,
    current: FeatureStatistics,
    method: str = LINFINITY,
    comparison_method: str = SIMPLE,
) -> float:
    """Distance between two String features' categorical buckets.

    LInfinity: max over values of |share in baseline - share in current| (then `comparison_method`).
    ChiSquared: p-value of the test of current counts against baseline shares; NaN when fewer than
    two categories remain after Deequ's regrouping of small ones.
    """
    base = {b.value: float(b.count) for b in baseline.categorical_buckets}
    cur = {b.value: float(b.count) for b in current.categorical_buckets}
    if method == LINFINITY:
        distance = frequency_linf(base, cur)
        return _apply_method(distance, sum(base.values()), sum(cur.values()), comparison_method)
    if method == CHI_SQUARED:
        return chi_squared_p_value(cur, base)
    raise BaselineError(f"categorical_drift_method must be LInfinity or ChiSquared, got {method!r}")


def drift_detected(distance: float, threshold: float, method: str = LINFINITY) -> bool:
    """Whether a distance from this module violates the threshold (NaN never does)."""
    if math.isnan(distance):
        return False
    if method == CHI_SQUARED:
        return distance < threshold
    return distance > threshold


def frequency_linf(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """max over categories of |a share - b share|."""
    n, m = sum(a.values()), sum(b.values())
    if n == 0 or m == 0:
        return 0.0 if n == m else 1.0
    return max(abs(a.get(k, 0.0) / n - b.get(k, 0.0) / m) for k in set(a) | set(b))


def robust(distance: float, n: float, m: float, c_alpha: float = ROBUST_C_ALPHA) -> float:
    """Deequ's low-sample correction of an L-infinity distance."""
    if n <= 0 or m <= 0:
        return distance
    return max(0.0, distance - c_alpha * math.sqrt((n + m) / (n * m)))


def _apply_method(distance: float, n: float, m: float, comparison_method: str) -> float:
    if comparison_method == SIMPLE:
        return distance
    if comparison_method == ROBUST:
        return robust(distance, n, m)
    raise BaselineError(f"comparison_method must be Simple or Robust, got {comparison_method!r}")


def chi_squared_p_value(observed: Mapping[str, float], expected: Mapping[str, float]) -> float:
    """Deequ's chi-squared goodness of fit of `observed` counts against `expected` counts.

    Expected counts are scaled to the observed total over the expected categories; categories
    whose expected count is small are merged into the next smallest until the Yates / Cochran
    rules hold; observed categories unknown to the baseline are ignored.
    """
    sample_total = sum(v for k, v in observed.items() if k in expected)
    expected_total = sum(expected.values())
    if expected_total <= 0:
        return math.nan
    exp = {k: v / expected_total * sample_total for k, v in expected.items()}
    obs = {k: observed.get(k, 0.0) for k in exp}
    _regroup(obs, exp)
    if len(exp) < 2:
        return math.nan
    statistic = 0.0
    for key, e in exp.items():
        if e <= 0:
            return math.nan
        statistic += (obs[key] - e) ** 2 / e
    return chi2_survival(statistic, len(exp) - 1)


def _regroup(obs: dict[str, float], exp: dict[str, float]) -> None:
    for _ in range(len(exp)):
        if len(exp) < 2:
            return
        if len(exp) > 2:
            floor, allowed = _YATES_ABSOLUTE, int(_YATES_SHARE * len(exp))
        else:
            floor, allowed = _COCHRAN_ABSOLUTE, 0
        if sum(1 for v in exp.values() if v < floor) <= allowed:
            return
        smallest = min(exp, key=lambda k: (exp[k], k))
        small_exp, small_obs = exp.pop(smallest), obs.pop(smallest)
        second = min(exp, key=lambda k: (exp[k], k))
        exp[second] += small_exp
        obs[second] += small_obs


def chi2_survival(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-squared(dof): the regularised upper incomplete gamma."""
    if statistic <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, statistic / 2.0)


def _gamma_q(a: float, x: float) -> float:
    # Series for x < a + 1, Lentz's continued fraction otherwise (Numerical Recipes 6.2).
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)
