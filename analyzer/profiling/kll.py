"""KLL sketches as SageMaker writes them: weighted samples, CDFs and the 10 equal-width buckets.

SageMaker's `sketch.data` is a list of compactor levels; an item in level i stands for 2**i values.
A datasketches `kll_doubles_sketch` iterates as (item, weight) pairs with power-of-two weights, so
both become the same `WeightedSamples` and can be compared with each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from datasketches import kll_doubles_sketch

BUCKET_COUNT = 10
KLL_C = 0.64  # SageMaker's sketch parameters, as written in statistics.json
KLL_K = 2048
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class KllBucket:
    """One of the equal-width buckets of `distribution.kll.buckets` (count is a sketch estimate)."""

    lower_bound: float
    upper_bound: float
    count: float


def new_sketch() -> kll_doubles_sketch:
    """An empty sketch with SageMaker's size (k = 2048)."""
    return kll_doubles_sketch(KLL_K)


def rank_error(sketch_k: int = KLL_K, all_ranks: bool = True) -> float:
    """DataSketches' a-priori normalised rank error at 99% confidence for k.

    `all_ranks` gives the bound that holds for every rank at once (DataSketches' "PMF" error,
    0.00184 at k = 2048), the one a CDF distance needs; else the single-rank error (0.00138).
    """
    return float(kll_doubles_sketch.get_normalized_rank_error(sketch_k, all_ranks))


@dataclass(frozen=True, slots=True)
class WeightedSamples:
    """Sorted items with weights: the retained content of a KLL sketch."""

    items: FloatArray
    cumulative: FloatArray  # cumulative[i] = total weight of items[0..i]

    @classmethod
    def of(cls, items: Iterable[float], weights: Iterable[float]) -> WeightedSamples:
        values = np.asarray(list(items), dtype=np.float64)
        weight = np.asarray(list(weights), dtype=np.float64)
        order = np.argsort(values, kind="stable")
        return cls(values[order], np.cumsum(weight[order]))

    @classmethod
    def from_sketch(cls, sketch: kll_doubles_sketch) -> WeightedSamples:
        items, weights = sketch_weights(sketch)
        return cls(items, np.cumsum(weights))

    @classmethod
    def from_levels(cls, levels: Sequence[Sequence[float]]) -> WeightedSamples:
        """From SageMaker's `sketch.data`: level i items weigh 2**i."""
        items: list[float] = []
        weights: list[float] = []
        for level, values in enumerate(levels):
            items.extend(values)
            weights.extend([float(2**level)] * len(values))
        return cls.of(items, weights)

    @property
    def n(self) -> float:
        """The number of values the sketch stands for."""
        return float(self.cumulative[-1]) if len(self.cumulative) else 0.0

    def rank(self, x: npt.ArrayLike) -> FloatArray:
        """Weight of items <= x."""
        return self._weight_before(np.searchsorted(self.items, x, side="right"))

    def rank_exclusive(self, x: npt.ArrayLike) -> FloatArray:
        """Weight of items < x."""
        return self._weight_before(np.searchsorted(self.items, x, side="left"))

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        """Estimated P(X <= x); all zeros for an empty sketch."""
        total = self.n
        ranks = self.rank(x)
        return ranks / total if total else np.zeros_like(ranks)

    def _weight_before(self, index: npt.NDArray[np.intp]) -> FloatArray:
        padded = np.concatenate(([0.0], self.cumulative))
        return np.asarray(padded[index], dtype=np.float64)


def sketch_weights(sketch: kll_doubles_sketch) -> tuple[FloatArray, FloatArray]:
    """The distinct retained items of a sketch, sorted, with the weight each stands for.

    Weights come from the sketch's own CDF at its items, not from its (item, weight) iterator:
    with datasketches 5.2 the iterator reports weight 1 for items a merge moved to higher
    levels, while the CDF stays right.
    """
    if sketch.is_empty():
        return np.empty(0), np.empty(0)
    items = np.unique(retained_items(sketch))
    ranks = np.asarray(sketch.get_cdf(items.tolist(), True)[:-1], dtype=np.float64)
    cumulative = np.rint(ranks * sketch.n)
    return items, np.diff(cumulative, prepend=0.0)


def retained_items(sketch: kll_doubles_sketch) -> FloatArray:
    """The items a sketch retains (unsorted, with repeats).

    The serialised form ends with them, as doubles, in every mode (one item, or the levels'
    items), which is read here in one step instead of iterating (item, weight) pairs in Python.
    """
    count = sketch.num_retained
    data = sketch.serialize()
    return np.frombuffer(data, dtype=np.float64, count=count, offset=len(data) - 8 * count)


def levels_from_sketch(sketch: kll_doubles_sketch) -> list[list[float]]:
    """SageMaker's `sketch.data`: compactor levels, an item of level i standing for 2**i values.

    An item's weight is split into its binary digits (weight 5 puts it in levels 0 and 2), which
    keeps every rank, and so every CDF and bucket, exactly as the sketch has it.
    """
    items, weights = sketch_weights(sketch)
    if len(items) == 0:
        return [[]]
    whole = weights.astype(np.int64)
    top = int(whole.max()).bit_length()
    # Level i holds the items whose weight has bit i set, in item order.
    return [items[(whole >> level) & 1 == 1].tolist() for level in range(top)]


def equal_width_buckets(
    samples: WeightedSamples, minimum: float, maximum: float, count: int = BUCKET_COUNT
) -> list[KllBucket]:
    """`count` buckets of equal width from min to max, as Deequ's KLL analyzer computes them.

    Bucket i counts sketch weight in [low, high), the last one in [low, high]; bounds are
    `min + (max - min) * i / count`, except that the last upper bound is `max` itself.

    That exception is the one difference from Deequ (awslabs/deequ `KLLSketch.scala`), which
    writes `min + (max - min) * count / count` there: in floating point that lands one ulp
    below `max` for about 40% of (min, max) pairs, and Deequ's last bucket then leaves out the
    values equal to `max`. Here the buckets always add up to the number of values.
    """
    span = maximum - minimum
    lows = np.array([minimum + span * i / count for i in range(count)])
    highs = np.array([minimum + span * (i + 1) / count for i in range(count)])
    # min + (max - min) can round below max; pin the last bound so the maximum is always counted.
    highs[-1] = maximum
    counts = samples.rank_exclusive(highs) - samples.rank_exclusive(lows)
    counts[-1] = samples.rank(highs[-1:])[0] - samples.rank_exclusive(lows[-1:])[0]
    return [
        KllBucket(float(lo), float(hi), float(c))
        for lo, hi, c in zip(lows, highs, counts, strict=True)
    ]


def linf_distance(a: WeightedSamples, b: WeightedSamples) -> float:
    """max over x of |CDF_a(x) - CDF_b(x)|, evaluated at every retained item of both sketches.

    Both CDFs are right-continuous step functions that only jump at retained items, so the
    supremum is reached at one of them.
    """
    if a.n == 0 or b.n == 0:
        return 0.0 if a.n == b.n else 1.0
    points = np.union1d(a.items, b.items)
    return float(np.max(np.abs(a.cdf(points) - b.cdf(points))))


__all__ = [
    "BUCKET_COUNT",
    "KLL_C",
    "KLL_K",
    "KllBucket",
    "WeightedSamples",
    "equal_width_buckets",
    "levels_from_sketch",
    "linf_distance",
    "new_sketch",
    "rank_error",
]
