"""Profiles: Deequ's type inference, exact moments, KLL buckets, merging and serialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.profiling import kll
from analyzer.profiling.dataset import DatasetProfile, ProfileError
from analyzer.profiling.types import classify_one, classify_text


def inferred(values: list[str]) -> str:
    profile = DatasetProfile()
    profile.update_columns({"c": values}, len(values))
    feature = profile.to_statistics().feature("c")
    assert feature is not None
    return feature.inferred_type


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2", "-3", "+4"], "Integral"),
        (["1", "2", ""], "Integral"),
        (["1.0", "2"], "Fractional"),
        (["1e5", "2"], "Fractional"),
        (["-1.5E-3"], "Fractional"),
        (["1", "a"], "String"),
        (["1.5", "nan"], "String"),
        ([".5"], "String"),
        (["1."], "String"),
        (["true", "false"], "String"),
        (["", ""], "Unknown"),
    ],
)
def test_type_inference_on_text_follows_deequ(values: list[str], expected: str) -> None:
    assert inferred(values) == expected


def test_python_values_from_json() -> None:
    profile = DatasetProfile()
    rows = 6
    profile.update_columns(
        {
            "i": [1, 2, None, 3, 4, 5],
            "f": [1.0, 2, math.nan, None, 0.5, 7],
            "s": ["a", "b", True, None, {"k": 1}, "a"],
        },
        rows,
    )
    stats = profile.to_statistics()
    i, f, s = (stats.feature(n) for n in ("i", "f", "s"))
    assert i is not None and i.inferred_type == "Integral" and i.num_missing == 1
    assert f is not None and f.inferred_type == "Fractional" and f.num_missing == 2
    assert f.sum == 10.5
    assert s is not None and s.inferred_type == "String" and s.num_present == 5
    counts = {b.value: b.count for b in s.categorical_buckets}
    assert counts == {"a": 2, "b": 1, "true": 1, '{"k":1}': 1}
    assert s.distinct_count == 4.0


texts = st.lists(
    st.one_of(
        st.from_regex(r"\A[-+]? ?[0-9]{1,6}(\.[0-9]{1,4})?([eE][-+]?[0-9]{1,2})?\Z"),
        st.sampled_from(["", ".5", "1.", "nan", "inf", "-", "1 ", " 1", "1.2.3", "0x10", "१२"]),
        st.text(alphabet="0123456789.-+eE x", max_size=6),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(texts)
def test_vectorised_classification_matches_the_regular_expressions(values: list[str]) -> None:
    classes = classify_text(np.asarray(values, dtype=str))
    # Numbers too large for a double ("1E310") are counted apart and profiled as missing.
    one_by_one = [
        "NonFinite"
        if c in ("Integral", "Fractional") and not math.isfinite(float(v.replace(" ", "")))
        else c
        for v, c in ((v, classify_one(v)) for v in values)
    ]
    assert classes.n_missing == one_by_one.count("Missing")
    assert classes.n_non_finite == one_by_one.count("NonFinite")
    assert classes.n_integral == one_by_one.count("Integral")
    assert classes.n_fractional == one_by_one.count("Fractional")
    assert sorted(classes.strings.tolist()) == sorted(
        v for v, c in zip(values, one_by_one, strict=True) if c == "String"
    )
    numbers = [
        float(v.replace(" ", ""))
        for v, c in zip(values, one_by_one, strict=True)
        if c in ("Integral", "Fractional")
    ]
    assert sorted(classes.numbers.tolist()) == sorted(numbers)


def test_numeric_statistics_match_numpy() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(50.0, 12.0, size=100_000)
    profile = DatasetProfile()
    profile.update_columns({"x": np.array([repr(float(v)) for v in values])}, len(values))
    x = profile.to_statistics().feature("x")
    assert x is not None and x.inferred_type == "Fractional"
    assert x.min == values.min() and x.max == values.max()
    assert x.sum == pytest.approx(values.sum(), rel=1e-12)
    assert x.mean == pytest.approx(values.mean(), rel=1e-12)
    assert x.std_dev == pytest.approx(np.std(values, ddof=0), rel=1e-9)
    assert (x.num_present, x.num_missing) == (100_000, 0)


def test_kll_buckets_match_an_exact_histogram_within_the_sketch_error() -> None:
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 3.0, size=200_000)
    profile = DatasetProfile()
    profile.update_numeric_matrix(["g"], values.reshape(-1, 1))
    g = profile.to_statistics().feature("g")
    assert g is not None
    assert len(g.kll_buckets) == 10
    assert g.kll_buckets[0].lower_bound == values.min()
    assert g.kll_buckets[-1].upper_bound == values.max()
    exact, edges = np.histogram(values, bins=10, range=(values.min(), values.max()))
    bound = 2 * kll.rank_error() * len(values)
    for bucket, count, low in zip(g.kll_buckets, exact, edges[:-1], strict=True):
        assert bucket.lower_bound == pytest.approx(low)
        assert abs(bucket.count - count) <= bound
    assert sum(b.count for b in g.kll_buckets) == len(values)
    # sketch.data levels: level i items stand for 2**i values.
    assert sum(len(level) * 2**i for i, level in enumerate(g.kll_sketch)) == len(values)
    assert (g.kll_c, g.kll_k) == (0.64, 2048.0)


def test_bucket_bounds_are_sagemakers() -> None:
    profile = DatasetProfile()
    profile.update_columns({"v": ["1", "243", "100"]}, 3)
    v = profile.to_statistics().feature("v")
    assert v is not None
    assert (v.kll_buckets[0].lower_bound, v.kll_buckets[0].upper_bound) == (1.0, 25.2)
    assert [b.count for b in v.kll_buckets] == [1, 0, 0, 0, 1, 0, 0, 0, 0, 1]


def test_merging_halves_equals_profiling_the_whole() -> None:
    rng = np.random.default_rng(11)
    matrix = rng.normal(size=(60_000, 3)) * [1.0, 100.0, 1e-3] + [0.0, 5e3, 1.0]
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    names = ["a", "b", "c"]
    whole = DatasetProfile()
    whole.update_numeric_matrix(names, matrix)
    first, second = DatasetProfile(), DatasetProfile()
    first.update_numeric_matrix(names, matrix[:25_000])
    second.update_numeric_matrix(names, matrix[25_000:])
    merged = first.merge(second)
    assert first.item_count == 25_000  # merge leaves its inputs alone
    expected, got = whole.to_statistics(), merged.to_statistics()
    assert got.item_count == expected.item_count == 60_000
    for e, g in zip(expected.features, got.features, strict=True):
        assert (g.num_present, g.num_missing, g.min, g.max) == (
            e.num_present,
            e.num_missing,
            e.min,
            e.max,
        )
        assert g.sum == pytest.approx(e.sum, rel=1e-12, abs=1e-9)
        assert g.mean == pytest.approx(e.mean, rel=1e-12, abs=1e-12)
        assert g.std_dev == pytest.approx(e.std_dev, rel=1e-9)
        present = matrix[:, names.index(g.name)]
        assert g.std_dev == pytest.approx(np.nanstd(present), rel=1e-9)
        for gb, eb in zip(g.kll_buckets, e.kll_buckets, strict=True):
            assert abs(gb.count - eb.count) <= 2 * kll.rank_error() * e.num_present


def test_merge_of_different_columns_counts_the_gaps_as_missing() -> None:
    left, right = DatasetProfile(), DatasetProfile()
    left.update_columns({"a": ["1", "2"]}, 2)
    right.update_columns({"b": ["x", "y", "z"]}, 3)
    stats = left.merge(right).to_statistics()
    assert stats.feature_names == ["a", "b"]
    a, b = stats.feature("a"), stats.feature("b")
    assert a is not None and (a.num_present, a.num_missing) == (2, 3)
    assert b is not None and (b.num_present, b.num_missing) == (3, 2)


def test_columns_that_come_and_go_between_batches() -> None:
    profile = DatasetProfile(["first"])
    profile.update_columns({"later": ["1"]}, 1)
    profile.update_columns({"first": ["2"], "later": ["3"]}, 1)
    stats = profile.to_statistics()
    assert stats.feature_names == ["first", "later"]
    first = stats.feature("first")
    assert first is not None and (first.num_present, first.num_missing) == (1, 1)


def test_bytes_round_trip_keeps_every_statistic() -> None:
    rng = np.random.default_rng(5)
    profile = DatasetProfile()
    profile.update_numeric_matrix(["n"], rng.normal(size=(10_000, 1)))
    profile.update_columns({"n": np.full(4, np.nan), "s": ["a", "b", "a", ""]}, 4)
    restored = DatasetProfile.from_bytes(profile.to_bytes())
    assert restored.to_statistics() == profile.to_statistics()
    assert restored.columns == ["n", "s"]
    with pytest.raises(ProfileError):
        DatasetProfile.from_bytes(b"garbage")


def test_numeric_matrix_equals_the_column_path() -> None:
    matrix = np.array([[1.0, 0.5], [2.0, np.nan], [3.0, 1.25]])
    fast, slow = DatasetProfile(), DatasetProfile()
    fast.update_numeric_matrix(["i", "f"], matrix, integral=[True, False])
    slow.update_columns({"i": ["1", "2", "3"], "f": ["0.5", "", "1.25"]}, 3)
    assert fast.to_statistics() == slow.to_statistics()
    whole_numbers = DatasetProfile()
    whole_numbers.update_numeric_matrix(["i", "f"], matrix)  # whole numbers count as Integral
    assert [f.inferred_type for f in whole_numbers.to_statistics().features] == [
        "Integral",
        "Fractional",
    ]


def test_bad_shapes_are_errors() -> None:
    profile = DatasetProfile()
    with pytest.raises(ProfileError, match="does not match"):
        profile.update_numeric_matrix(["a"], np.zeros((2, 2)))
    with pytest.raises(ProfileError, match="expected 3"):
        profile.update_columns({"a": ["1"]}, 3)


def test_a_column_mixing_numbers_and_strings_lists_every_value() -> None:
    profile = DatasetProfile()
    profile.update_columns({"code": ["1", "2", "1", "NA"]}, 4)
    other = DatasetProfile()
    other.update_columns({"code": ["2", "x"]}, 2)
    code = profile.merge(other).to_statistics().feature("code")
    assert code is not None and code.inferred_type == "String"
    assert [(b.value, b.count) for b in code.categorical_buckets] == [
        ("1", 2),
        ("2", 2),
        ("NA", 1),
        ("x", 1),
    ]
    assert code.distinct_count == 4.0
    assert (code.num_present, code.num_missing) == (6, 0)
