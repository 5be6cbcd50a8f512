"""A dataset's statistics as SageMaker's statistics.json holds them: what a profile becomes.

`from_json` accepts SageMaker's own files (integers where floats are expected, `version: 0`);
`to_json` writes them as SageMaker's pre-built container does. Reading and writing the files is
analyzer.reporting.baseline_files' job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import BaselineError
from analyzer.profiling.kll import KLL_C, KLL_K, KllBucket
from analyzer.profiling.types import NUMERIC_TYPES, STRING, UNKNOWN


@dataclass(frozen=True, slots=True)
class CategoricalBucket:
    value: str
    count: int


@dataclass(slots=True)
class FeatureStatistics:
    """One entry of `features`: numerical fields for Integral/Fractional, string fields for String.

    `kll_sketch` is SageMaker's `sketch.data`: compactor levels, where an item of level i stands
    for 2**i values.
    """

    name: str
    inferred_type: str
    num_present: int = 0
    num_missing: int = 0
    mean: float | None = None
    sum: float | None = None
    std_dev: float | None = None
    min: float | None = None
    max: float | None = None
    kll_buckets: list[KllBucket] = field(default_factory=list)
    kll_c: float = KLL_C
    kll_k: float = float(KLL_K)
    kll_sketch: list[list[float]] = field(default_factory=list)
    distinct_count: float | None = None
    categorical_buckets: list[CategoricalBucket] = field(default_factory=list)

    @property
    def is_numeric(self) -> bool:
        return self.inferred_type in NUMERIC_TYPES

    @property
    def completeness(self) -> float:
        """Share of non-missing values (1.0 for an empty dataset)."""
        total = self.num_present + self.num_missing
        return self.num_present / total if total else 1.0

    def to_json(self) -> dict[str, Any]:
        common = {"num_present": self.num_present, "num_missing": self.num_missing}
        out: dict[str, Any] = {"name": self.name, "inferred_type": self.inferred_type}
        if self.is_numeric:
            out["numerical_statistics"] = {
                "common": common,
                "mean": self.mean,
                "sum": self.sum,
                "std_dev": self.std_dev,
                "min": self.min,
                "max": self.max,
                "distribution": {
                    "kll": {
                        "buckets": [
                            {
                                "lower_bound": b.lower_bound,
                                "upper_bound": b.upper_bound,
                                "count": b.count,
                            }
                            for b in self.kll_buckets
                        ],
                        "sketch": {
                            "parameters": {"c": self.kll_c, "k": self.kll_k},
                            "data": self.kll_sketch,
                        },
                    }
                },
            }
        else:
            string_stats: dict[str, Any] = {
                "common": common,
                "distinct_count": float(self.distinct_count or 0.0),
            }
            if self.inferred_type == STRING:
                string_stats["distribution"] = {
                    "categorical": {
                        "buckets": [
                            {"value": b.value, "count": b.count} for b in self.categorical_buckets
                        ]
                    }
                }
            out["string_statistics"] = string_stats
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FeatureStatistics:
        name = require_field(raw, "name", str, "feature")
        inferred = str(raw.get("inferred_type", UNKNOWN))
        feature = cls(name=name, inferred_type=inferred)
        numerical = raw.get("numerical_statistics")
        strings = raw.get("string_statistics")
        section = numerical if isinstance(numerical, Mapping) else strings
        if isinstance(section, Mapping):
            common = section.get("common") or {}
            feature.num_present = int(common.get("num_present", 0))
            feature.num_missing = int(common.get("num_missing", 0))
        if isinstance(numerical, Mapping):
            for key in ("mean", "sum", "std_dev", "min", "max"):
                setattr(feature, key, float_or_none(numerical.get(key)))
            kll = (numerical.get("distribution") or {}).get("kll") or {}
            feature.kll_buckets = [
                KllBucket(float(b["lower_bound"]), float(b["upper_bound"]), float(b["count"]))
                for b in kll.get("buckets") or []
            ]
            sketch = kll.get("sketch") or {}
            parameters = sketch.get("parameters") or {}
            feature.kll_c = float(parameters.get("c", KLL_C))
            feature.kll_k = float(parameters.get("k", KLL_K))
            feature.kll_sketch = [[float(v) for v in level] for level in sketch.get("data") or []]
        if isinstance(strings, Mapping):
            feature.distinct_count = float_or_none(strings.get("distinct_count"))
            categorical = (strings.get("distribution") or {}).get("categorical") or {}
            feature.categorical_buckets = [
                CategoricalBucket(str(b["value"]), int(b["count"]))
                for b in categorical.get("buckets") or []
            ]
        return feature


@dataclass(slots=True)
class Statistics:
    """A whole statistics.json: dataset size and one entry per feature, in column order."""

    item_count: int
    features: list[FeatureStatistics]
    version: float = 0.0

    def feature(self, name: str) -> FeatureStatistics | None:
        for feature in self.features:
            if feature.name == name:
                return feature
        return None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "dataset": {"item_count": self.item_count},
            "features": [f.to_json() for f in self.features],
        }

    @classmethod
    def from_json(cls, raw: Any) -> Statistics:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("features"), list):
            raise BaselineError("not a statistics file: expected an object with a 'features' list")
        dataset = raw.get("dataset") or {}
        return cls(
            item_count=int(dataset.get("item_count", 0)),
            features=[FeatureStatistics.from_json(f) for f in raw["features"]],
            version=float(raw.get("version", 0.0)),
        )


def float_or_none(value: Any) -> float | None:
    """A JSON number as a float; null and NaN as None."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def require_field(raw: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    """raw[key], which must be of `kind`; BaselineError naming the entry otherwise."""
    value = raw.get(key)
    if not isinstance(value, kind):
        raise BaselineError(f"a {what} entry has no {key!r} of type {kind.__name__}: {raw!r:.200}")
    return value
