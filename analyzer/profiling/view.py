"""Immutable views of a profile: what the checks read, never the mutable profile itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeatureView:
    """One column's counts by Deequ's classes, its categories and its numbers' KLL levels.

    `numeric_levels` is the sketch of the column's numeric values as SageMaker's `sketch.data`
    (level i items stand for 2**i values), also for a String column that holds numbers.
    """

    name: str
    present: int
    missing: int
    integral: int
    numeric: int
    string: int
    non_finite: int
    categorical: Mapping[str, int]  # every tracked value's count, numbers' texts included
    numeric_levels: tuple[tuple[float, ...], ...]


@dataclass(frozen=True, slots=True)
class ProfileView:
    """A dataset profile's views, by column in the order the columns were first seen."""

    item_count: int
    columns: tuple[str, ...]
    features: Mapping[str, FeatureView]

    def feature(self, name: str) -> FeatureView | None:
        return self.features.get(name)
