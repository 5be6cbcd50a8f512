"""One column's mergeable profile: Deequ's type counts, moments, a KLL sketch and value counts."""

from __future__ import annotations

import base64
import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
from datasketches import hll_sketch, hll_union, kll_doubles_sketch

from analyzer.profiling import kll
from analyzer.profiling.statistics import CategoricalBucket, FeatureStatistics
from analyzer.profiling.types import FRACTIONAL, INTEGRAL, STRING, UNKNOWN
from analyzer.profiling.view import FeatureView

TextCounter = Callable[[], tuple[list[str], list[int]]]

MAX_TRACKED_STRINGS = 100_000  # exact counts kept for this many distinct strings per column
MAX_NUMERIC_TEXTS = 1000  # numbers' texts kept for a column that may turn out String
MAX_CATEGORICAL_BUCKETS = 1000  # as Deequ's histogram: the most frequent values are listed
_HLL_LG_K = 12


@dataclass
class FeatureProfile:
    """Everything kept about one column.

    `integral`, `fractional`, `string` and `missing` count values by Deequ's classes; numeric
    moments, min/max and the sketch cover the Integral and Fractional values; `string_counts`
    counts String values exactly for up to MAX_TRACKED_STRINGS distinct ones. `numeric_texts`
    counts the text of numeric values while they have at most MAX_NUMERIC_TEXTS distinct texts
    and all came as text (else None), so that a column mixing numbers and strings, which is
    String, lists its numbers among its categorical values as SageMaker does.
    """

    name: str
    missing: int = 0
    non_finite: int = 0  # numbers too large for a double (1e999): also counted in `missing`
    integral: int = 0
    fractional: int = 0
    string: int = 0
    mean: float = 0.0
    m2: float = 0.0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    sketch: kll_doubles_sketch = field(default_factory=kll.new_sketch)
    string_counts: dict[str, int] = field(default_factory=dict)
    strings_truncated: bool = False
    numeric_texts: dict[str, int] | None = field(default_factory=dict)
    distinct: hll_sketch = field(default_factory=lambda: hll_sketch(_HLL_LG_K))

    @property
    def numeric(self) -> int:
        return self.integral + self.fractional

    @property
    def present(self) -> int:
        return self.integral + self.fractional + self.string

    @property
    def inferred_type(self) -> str:
        """Deequ's rule: any String value makes a String column, any Fractional a Fractional one."""
        if self.present == 0:
            return UNKNOWN
        if self.string:
            return STRING
        if self.fractional:
            return FRACTIONAL
        return INTEGRAL

    @property
    def std_dev(self) -> float:
        """Population standard deviation of the numeric values."""
        return math.sqrt(self.m2 / self.numeric) if self.numeric else 0.0

    @property
    def distinct_count(self) -> float:
        """Distinct String values: exact while tracked, else the HLL estimate."""
        numbers = len(self.numeric_texts) if self.numeric_texts is not None else 0
        if not self.strings_truncated:
            return float(len(self.string_counts) + numbers)
        return float(round(self.distinct.get_estimate())) + numbers

    def categorical_counts(self) -> dict[str, int]:
        """Counts of every tracked value: the strings and, when tracked, the numbers' texts."""
        if not self.numeric_texts:
            return self.string_counts
        combined = dict(self.numeric_texts)
        for value, count in self.string_counts.items():
            combined[value] = combined.get(value, 0) + count
        return combined

    def add_numbers(
        self,
        values: npt.NDArray[np.float64],
        n_integral: int,
        text_counts: TextCounter | None = None,
    ) -> None:
        """Absorb present numeric values (no NaN); `n_integral` of them are Integral.

        `text_counts` gives the values' texts as written (with counts), which keeps them
        countable as categories; it is called only while that is still tracked.
        """
        finite = np.isfinite(values)
        if not finite.all():  # callers filter these; never let one reach the moments
            self.add_non_finite(int((~finite).sum()))
            n_integral = min(n_integral, int(finite.sum()))
            values, text_counts = values[finite], None
        count = len(values)
        if count == 0:
            return
        self.add_numeric_texts(text_counts, values)
        total = float(np.sum(values))
        batch_mean = total / count
        batch_m2 = float(np.sum(np.square(values - batch_mean)))
        self.add_moments(count, total, batch_m2, float(np.min(values)), float(np.max(values)))
        self.integral += n_integral
        self.fractional += count - n_integral
        # The sketch binding takes only writable, contiguous float64 arrays (not Arrow views).
        self.sketch.update(np.require(values, np.float64, ["C_CONTIGUOUS", "WRITEABLE"]))

    def add_non_finite(self, count: int) -> None:
        """Count numbers that are not finite; they are profiled as missing values."""
        self.non_finite += count
        self.missing += count

    def add_moments(self, count: int, total: float, m2: float, low: float, high: float) -> None:
        """Chan's parallel update of (n, mean, M2) with a batch of `count` values."""
        before = self.numeric
        after = before + count
        batch_mean = total / count
        delta = batch_mean - self.mean
        self.mean += delta * count / after
        self.m2 += m2 + delta * delta * before * count / after
        self.sum += total
        self.min = min(self.min, low)
        self.max = max(self.max, high)

    def add_numeric_texts(
        self, text_counts: TextCounter | None, values: npt.NDArray[np.float64] | None = None
    ) -> None:
        if self.numeric_texts is None:
            return
        if text_counts is None:
            self.numeric_texts = None
            return
        # Distinct numbers bound distinct texts from below, and are much cheaper to count.
        if values is not None and len(np.unique(values)) > MAX_NUMERIC_TEXTS:
            self.numeric_texts = None
            return
        tracked = self.numeric_texts
        for value, number in zip(*text_counts(), strict=True):
            tracked[value] = tracked.get(value, 0) + number
        if len(tracked) > MAX_NUMERIC_TEXTS:
            self.numeric_texts = None

    def add_strings(self, values: npt.NDArray[np.str_]) -> None:
        if len(values) == 0:
            return
        self.string += len(values)
        uniques, counts = np.unique(values, return_counts=True)
        tracked = self.string_counts
        for value, count in zip(uniques.tolist(), counts.tolist(), strict=True):
            self.distinct.update(value)
            if value in tracked:
                tracked[value] += count
            elif len(tracked) < MAX_TRACKED_STRINGS:
                tracked[value] = count
            else:
                self.strings_truncated = True

    def absorb(self, other: FeatureProfile) -> None:
        """Add another profile of the same column into this one."""
        if other.numeric:
            before, count = self.numeric, other.numeric
            after = before + count
            delta = other.mean - self.mean
            self.mean += delta * count / after
            self.m2 += other.m2 + delta * delta * before * count / after
            self.sum += other.sum
            self.min = min(self.min, other.min)
            self.max = max(self.max, other.max)
            self.sketch.merge(other.sketch)
        self.missing += other.missing
        self.non_finite += other.non_finite
        self.integral += other.integral
        self.fractional += other.fractional
        self.string += other.string
        for value, count in other.string_counts.items():
            if value in self.string_counts:
                self.string_counts[value] += count
            elif len(self.string_counts) < MAX_TRACKED_STRINGS:
                self.string_counts[value] = count
            else:
                self.strings_truncated = True
        self.strings_truncated = self.strings_truncated or other.strings_truncated
        if self.numeric_texts is not None and other.numeric_texts is not None:
            for value, count in other.numeric_texts.items():
                self.numeric_texts[value] = self.numeric_texts.get(value, 0) + count
            if len(self.numeric_texts) > MAX_NUMERIC_TEXTS:
                self.numeric_texts = None
        elif other.numeric:
            self.numeric_texts = None
        union = _hll_union(self.distinct, other.distinct)
        self.distinct = union

    def view(self) -> FeatureView:
        """An immutable snapshot of what the checks read."""
        return FeatureView(
            name=self.name,
            present=self.present,
            missing=self.missing,
            integral=self.integral,
            numeric=self.numeric,
            string=self.string,
            non_finite=self.non_finite,
            categorical=MappingProxyType(dict(self.categorical_counts())),
            numeric_levels=tuple(tuple(level) for level in kll.levels_from_sketch(self.sketch))
            if self.numeric
            else (),
        )

    def to_feature_statistics(self, sketches: bool = True) -> FeatureStatistics:
        kind = self.inferred_type
        feature = FeatureStatistics(
            name=self.name, inferred_type=kind, num_present=self.present, num_missing=self.missing
        )
        if kind in (INTEGRAL, FRACTIONAL):
            feature.mean = self.sum / self.numeric
            feature.sum = self.sum
            feature.std_dev = self.std_dev
            feature.min = self.min
            feature.max = self.max
            if not sketches:
                return feature
            samples = kll.WeightedSamples.from_sketch(self.sketch)
            feature.kll_buckets = kll.equal_width_buckets(samples, self.min, self.max)
            feature.kll_sketch = kll.levels_from_sketch(self.sketch)
        elif kind == STRING:
            feature.distinct_count = self.distinct_count
            top = heapq.nsmallest(
                MAX_CATEGORICAL_BUCKETS,
                self.categorical_counts().items(),
                key=lambda kv: (-kv[1], kv[0]),
            )
            feature.categorical_buckets = [CategoricalBucket(v, c) for v, c in top]
        else:
            feature.distinct_count = 0.0
        return feature

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "missing": self.missing,
            "non_finite": self.non_finite,
            "integral": self.integral,
            "fractional": self.fractional,
            "string": self.string,
            "mean": self.mean,
            "m2": self.m2,
            "sum": self.sum,
            "min": self.min if self.numeric else None,
            "max": self.max if self.numeric else None,
            "sketch": base64.b64encode(self.sketch.serialize()).decode("ascii"),
            "strings": self.string_counts,
            "strings_truncated": self.strings_truncated,
            "numeric_texts": self.numeric_texts,
            "distinct": base64.b64encode(self.distinct.serialize_compact()).decode("ascii"),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FeatureProfile:
        return cls(
            name=str(raw["name"]),
            missing=int(raw["missing"]),
            non_finite=int(raw.get("non_finite", 0)),
            integral=int(raw["integral"]),
            fractional=int(raw["fractional"]),
            string=int(raw["string"]),
            mean=float(raw["mean"]),
            m2=float(raw["m2"]),
            sum=float(raw["sum"]),
            min=math.inf if raw["min"] is None else float(raw["min"]),
            max=-math.inf if raw["max"] is None else float(raw["max"]),
            sketch=kll_doubles_sketch.deserialize(base64.b64decode(raw["sketch"])),
            string_counts={str(k): int(v) for k, v in raw["strings"].items()},
            strings_truncated=bool(raw["strings_truncated"]),
            numeric_texts=None
            if raw["numeric_texts"] is None
            else {str(k): int(v) for k, v in raw["numeric_texts"].items()},
            distinct=hll_sketch.deserialize(base64.b64decode(raw["distinct"])),
        )


def _hll_union(a: hll_sketch, b: hll_sketch) -> hll_sketch:
    union = hll_union(_HLL_LG_K)
    union.update(a)
    union.update(b)
    return union.get_result()
