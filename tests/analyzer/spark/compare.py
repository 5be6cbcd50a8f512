"""Spark against local: the equalities DESIGN §11 promises between the two engines' profiles."""

from __future__ import annotations

import math

import numpy as np

from analyzer.profiling.dataset import DatasetProfile
from analyzer.profiling.kll import rank_error


def assert_same_profile(spark: DatasetProfile, local: DatasetProfile) -> None:
    """Counts, min, max and Integral sums equal; Fractional sums, mean, std to 1e-9; KLL 2 eps."""
    assert spark.item_count == local.item_count
    assert spark.columns == local.columns
    for name in local.columns:
        ours, theirs = spark.feature(name), local.feature(name)
        counts = ("missing", "non_finite", "integral", "fractional", "string")
        assert [getattr(ours, c) for c in counts] == [getattr(theirs, c) for c in counts], name
        assert ours.string_counts == theirs.string_counts, name
        assert ours.categorical_counts() == theirs.categorical_counts(), name
        if not theirs.numeric:
            continue
        assert (ours.min, ours.max) == (theirs.min, theirs.max), name
        if theirs.fractional == 0:
            assert ours.sum == theirs.sum, name  # whole numbers add up exactly in any order
        assert math.isclose(ours.sum, theirs.sum, rel_tol=1e-9, abs_tol=1e-9), name
        assert math.isclose(ours.mean, theirs.mean, rel_tol=1e-9, abs_tol=1e-12), name
        assert math.isclose(ours.std_dev, theirs.std_dev, rel_tol=1e-9, abs_tol=1e-12), name
        assert_ranks_close(ours, theirs)


def assert_ranks_close(ours: object, theirs: object) -> None:
    sketch_a, sketch_b = ours.sketch, theirs.sketch  # type: ignore[attr-defined]
    assert sketch_a.n == sketch_b.n
    points = np.linspace(sketch_b.get_min_value(), sketch_b.get_max_value(), 41)
    for x in points:
        gap = abs(sketch_a.get_rank(float(x)) - sketch_b.get_rank(float(x)))
        assert gap <= 2 * rank_error(), (float(x), gap)
