"""Drift distances against independent exact computations (scipy) on the raw data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analyzer.checking import drift
from analyzer.profiling import kll
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reporting.baseline_files import CategoricalBucket, FeatureStatistics


def numeric_feature(values: np.ndarray) -> FeatureStatistics:
    profile = DatasetProfile()
    profile.update_numeric_matrix(["x"], values.reshape(-1, 1))
    feature = profile.to_statistics().feature("x")
    assert feature is not None
    return feature


def categorical_feature(counts: dict[str, int]) -> FeatureStatistics:
    return FeatureStatistics(
        name="c",
        inferred_type="String",
        num_present=sum(counts.values()),
        categorical_buckets=[CategoricalBucket(v, c) for v, c in counts.items()],
    )


@pytest.mark.parametrize("shift", [0.0, 0.02, 0.1, 0.5])
def test_numeric_distance_is_the_ks_statistic_within_the_sketch_bound(shift: float) -> None:
    # Both sketches compact (150k values >> k), so the bound 2 * 0.00184 is what is tested.
    rng = np.random.default_rng(int(shift * 100))
    baseline = rng.normal(size=150_000)
    current = rng.normal(loc=shift, scale=1.0 + shift, size=120_000)
    exact = scipy_stats.ks_2samp(baseline, current).statistic
    ours = drift.numeric_distance(numeric_feature(baseline), numeric_feature(current))
    assert pytest.approx(2 * 0.00184, rel=1e-2) == drift.DISTANCE_ERROR_BOUND
    assert abs(ours - exact) <= drift.DISTANCE_ERROR_BOUND


def test_small_samples_are_exact() -> None:
    rng = np.random.default_rng(1)
    baseline, current = rng.integers(0, 20, 500).astype(float), rng.normal(10, 4, 700)
    exact = scipy_stats.ks_2samp(baseline, current).statistic
    ours = drift.numeric_distance(numeric_feature(baseline), numeric_feature(current))
    assert ours == pytest.approx(exact, abs=1e-12)


def test_sagemaker_sketch_levels_compare_with_ours() -> None:
    # SageMaker's sketch.data: level 1 items weigh 2, so this stands for 1,2,3,4,4,5,5.
    theirs = FeatureStatistics(
        name="x", inferred_type="Integral", kll_sketch=[[1.0, 2.0, 3.0], [4.0, 5.0]]
    )
    ours = numeric_feature(np.array([1.0, 2, 3, 4, 4, 5, 5]))
    assert drift.numeric_distance(theirs, ours) == 0.0
    shifted = numeric_feature(np.array([1.0, 2, 3, 4, 5, 5, 5]))
    assert drift.numeric_distance(theirs, shifted) == pytest.approx(1 / 7)


def test_robust_subtracts_the_sampling_noise() -> None:
    rng = np.random.default_rng(2)
    a, b = numeric_feature(rng.normal(size=400)), numeric_feature(rng.normal(0.8, 1, 300))
    simple = drift.numeric_distance(a, b, "Simple")
    robust = drift.numeric_distance(a, b, "Robust")
    assert robust == pytest.approx(max(0.0, simple - 1.8 * math.sqrt(700 / (400 * 300))))
    assert drift.robust(0.05, 100, 100) == 0.0


def test_categorical_linf_is_the_largest_share_difference() -> None:
    base = categorical_feature({"a": 50, "b": 30, "c": 20})
    cur = categorical_feature({"a": 20, "b": 30, "d": 50})
    # Shares: a .5 -> .2, b .3 -> .3, c .2 -> 0, d 0 -> .5: the largest change is 0.5.
    assert drift.categorical_distance(base, cur) == pytest.approx(0.5)
    assert drift.categorical_distance(base, base) == 0.0


def test_chi_squared_is_scipys_p_value_when_no_regrouping_is_needed() -> None:
    base = categorical_feature({"a": 500, "b": 300, "c": 200})
    cur = categorical_feature({"a": 230, "b": 160, "c": 110, "new": 40})
    p = drift.categorical_distance(base, cur, method="ChiSquared")
    observed = np.array([230, 160, 110])  # values unknown to the baseline are left out
    expected = np.array([0.5, 0.3, 0.2]) * observed.sum()
    assert p == pytest.approx(scipy_stats.chisquare(observed, expected).pvalue, rel=1e-9)
    assert drift.drift_detected(p, 0.1, "ChiSquared") == (p < 0.1)


def test_chi_squared_regroups_small_categories_and_gives_nan_when_nothing_is_left() -> None:
    base = categorical_feature({"a": 1000, "b": 1000, "rare1": 1, "rare2": 1})
    cur = categorical_feature({"a": 900, "b": 1100, "rare1": 3})
    p = drift.categorical_distance(base, cur, method="ChiSquared")
    assert 0.0 <= p <= 1.0
    single = categorical_feature({"only": 10})
    assert math.isnan(drift.categorical_distance(single, single, method="ChiSquared"))
    assert drift.drift_detected(math.nan, 0.1, "ChiSquared") is False


@pytest.mark.parametrize(("x", "dof"), [(0.5, 1), (3.0, 2), (12.0, 5), (80.0, 40), (300.0, 199)])
def test_chi2_survival_matches_scipy(x: float, dof: int) -> None:
    assert drift.chi2_survival(x, dof) == pytest.approx(scipy_stats.chi2.sf(x, dof), rel=1e-9)


def test_drift_detected_compares_distances_and_p_values_the_right_way() -> None:
    assert drift.drift_detected(0.2, 0.1) and not drift.drift_detected(0.05, 0.1)
    assert drift.drift_detected(0.01, 0.1, "ChiSquared")
    assert not drift.drift_detected(0.5, 0.1, "ChiSquared")


def test_empty_sketches() -> None:
    empty = FeatureStatistics(name="x", inferred_type="Fractional")
    assert drift.numeric_distance(empty, empty) == 0.0
    assert drift.numeric_distance(empty, numeric_feature(np.array([1.0]))) == 1.0
    assert kll.WeightedSamples.from_levels([]).n == 0
