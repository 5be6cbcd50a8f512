"""The data behind each feature's chart: baseline and current distributions on shared axes.

Numeric features come from the KLL sketches of the two statistics files (`sketch.data` levels),
read with analyzer.profiling.kll: a histogram on shared equal-width bins and both CDFs, with the
point where they are furthest apart (the L-infinity distance the drift check measures, before
any Robust adjustment). String features compare category shares. Non-finite sketch items
(NaN, ±inf) cannot be placed on an axis: they are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.profiling import kll
from analyzer.reporting.baseline_files import CategoricalBucket, FeatureStatistics

HISTOGRAM_BINS = 20
CDF_POINTS = 120  # points per CDF line: smooth enough, small enough for the page
TOP_CATEGORIES = 12
OTHER = "(other)"


@dataclass(frozen=True, slots=True)
class NumericDistribution:
    """Shares per bin and CDFs on one grid; a side with no values has empty lists."""

    edges: list[float]  # HISTOGRAM_BINS + 1 bin edges over both sides' range
    baseline_share: list[float]  # fraction of the baseline's values per bin
    current_share: list[float]
    grid: list[float]  # x where both CDFs are given
    baseline_cdf: list[float]
    current_cdf: list[float]
    gap: float | None  # max |CDF_baseline - CDF_current|; None when a side is empty
    gap_at: float | None
    left_out: int  # non-finite sketch items not drawn


@dataclass(frozen=True, slots=True)
class CategoricalDistribution:
    """Category shares, the most frequent first, the rest summed under OTHER."""

    categories: list[str]
    baseline_share: list[float]
    current_share: list[float]
    gap: float | None  # max |share difference| over all categories
    gap_category: str | None


def samples(feature: FeatureStatistics | None) -> tuple[kll.WeightedSamples, int]:
    """The finite part of a feature's sketch, and how many non-finite items were dropped."""
    if feature is None or not feature.kll_sketch:
        return kll.WeightedSamples.of([], []), 0
    whole = kll.WeightedSamples.from_levels(feature.kll_sketch)
    weights = np.diff(whole.cumulative, prepend=0.0)
    finite = np.isfinite(whole.items)
    dropped = int(np.count_nonzero(~finite))
    return kll.WeightedSamples.of(whole.items[finite], weights[finite]), dropped


def numeric_distribution(
    baseline: FeatureStatistics | None, current: FeatureStatistics | None
) -> NumericDistribution | None:
    """Both sides on shared axes; None when neither side has a finite value."""
    base, dropped_base = samples(baseline)
    cur, dropped_cur = samples(current)
    points = np.union1d(base.items, cur.items)
    if len(points) == 0:
        return None
    low, high = float(points[0]), float(points[-1])
    if high == low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    gap, gap_at = None, None
    if base.n and cur.n:
        differences = np.abs(base.cdf(points) - cur.cdf(points))
        worst = int(np.argmax(differences))
        gap, gap_at = float(differences[worst]), float(points[worst])
    grid = _grid(points, gap_at)
    return NumericDistribution(
        edges=edges.tolist(),
        baseline_share=_shares(base, edges),
        current_share=_shares(cur, edges),
        grid=grid.tolist(),
        baseline_cdf=base.cdf(grid).tolist() if base.n else [],
        current_cdf=cur.cdf(grid).tolist() if cur.n else [],
        gap=gap,
        gap_at=gap_at,
        left_out=dropped_base + dropped_cur,
    )


def _grid(points: np.ndarray, gap_at: float | None) -> np.ndarray:
    """At most CDF_POINTS of the retained items, always keeping the ends and the gap."""
    if len(points) <= CDF_POINTS:
        return points
    index = np.unique(np.linspace(0, len(points) - 1, CDF_POINTS).round().astype(np.int64))
    chosen = points[index]
    if gap_at is not None:
        chosen = np.union1d(chosen, [gap_at])
    return chosen


def _shares(side: kll.WeightedSamples, edges: np.ndarray) -> list[float]:
    """Fraction of a side's values in each [low, high) bin, the last bin closed."""
    if not side.n:
        return []
    buckets = kll.equal_width_buckets(side, float(edges[0]), float(edges[-1]), len(edges) - 1)
    return [bucket.count / side.n for bucket in buckets]


def categorical_distribution(
    baseline: FeatureStatistics | None, current: FeatureStatistics | None
) -> CategoricalDistribution | None:
    """Shares of the TOP_CATEGORIES most frequent categories; None when both sides are empty."""
    base = _category_shares(baseline.categorical_buckets if baseline else [])
    cur = _category_shares(current.categorical_buckets if current else [])
    if not base and not cur:
        return None
    names = sorted(set(base) | set(cur), key=lambda c: (-max(base.get(c, 0), cur.get(c, 0)), c))
    gap, gap_category = None, None
    if base and cur:
        gap_category = max(names, key=lambda c: abs(base.get(c, 0.0) - cur.get(c, 0.0)))
        gap = abs(base.get(gap_category, 0.0) - cur.get(gap_category, 0.0))
    shown, rest = names[:TOP_CATEGORIES], names[TOP_CATEGORIES:]
    base_share = [base.get(c, 0.0) for c in shown]
    cur_share = [cur.get(c, 0.0) for c in shown]
    if rest:
        shown = [*shown, OTHER]
        base_share.append(sum(base.get(c, 0.0) for c in rest))
        cur_share.append(sum(cur.get(c, 0.0) for c in rest))
    return CategoricalDistribution(shown, base_share, cur_share, gap, gap_category)


def _category_shares(buckets: list[CategoricalBucket]) -> dict[str, float]:
    total = sum(b.count for b in buckets if b.count > 0)
    if not total:
        return {}
    shares: dict[str, float] = {}
    for bucket in buckets:
        if bucket.count > 0:
            shares[bucket.value] = shares.get(bucket.value, 0.0) + bucket.count / total
    return shares
