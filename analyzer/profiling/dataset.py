"""Mergeable dataset profiles: per-column type counts, moments, a KLL sketch and string counts.

A `DatasetProfile` absorbs batches of rows (`update_columns`, or `update_numeric_matrix` for
all-numeric batches), merges with profiles built elsewhere (another process, another partition),
travels as bytes, and becomes a SageMaker `Statistics` with `to_statistics()`.

Statistics match SageMaker's: mean = sum / count, population standard deviation from (n, mean, M2)
merged with Chan's formula, KLL with k = 2048, types as Deequ infers them (see `inference`).
What is kept per column is a `FeatureProfile` (`column_profile`, re-exported here).

Contract additions: `update_columns` also takes numpy masked arrays and `inference.TextClasses`
(text already classified); `update_numeric_matrix`'s `integral` may be a per-value bool matrix.
For a String column's domain/categorical checks use `FeatureProfile.categorical_counts()`, which
adds the numbers' texts of a mixed column to `string_counts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from analyzer.errors import AnalyzerError
from analyzer.profiling.feature import FeatureProfile
from analyzer.profiling.statistics import Statistics
from analyzer.profiling.types import TextClasses, classify_text, text_counts
from analyzer.profiling.view import ProfileView

# JSON values: lists and objects are profiled as the String of their JSON.
JsonValue = str | float | int | bool | None | list[Any] | dict[str, Any]
ColumnValues = Sequence[JsonValue] | npt.NDArray[Any] | TextClasses

_FORMAT_VERSION = 1


__all__ = ["ColumnValues", "DatasetProfile", "FeatureProfile", "ProfileError"]


class ProfileError(AnalyzerError):
    """Profile bytes that cannot be read, or batches whose shapes do not match."""


class DatasetProfile:
    """A mutable, mergeable profile of a table; columns keep the order they were first seen."""

    def __init__(self, columns: Sequence[str] = ()) -> None:
        self.item_count = 0
        self._features: dict[str, FeatureProfile] = {}
        for name in columns:
            self._feature_or_new(name)

    @property
    def columns(self) -> list[str]:
        return list(self._features)

    def feature(self, name: str) -> FeatureProfile:
        """The profile of one column; KeyError if the column was never seen."""
        return self._features[name]

    def _feature_or_new(self, name: str) -> FeatureProfile:
        feature = self._features.get(name)
        if feature is None:
            # Rows seen before the column first appeared did not have it: they count as missing.
            feature = FeatureProfile(name=name, missing=self.item_count)
            self._features[name] = feature
        return feature

    def update_columns(self, columns: Mapping[str, ColumnValues], n_rows: int) -> None:
        """Absorb `n_rows` rows given column by column.

        A column may be: text as read from CSV (typed as Deequ does, "" missing); Python values
        from JSON (None missing, int Integral, float Fractional with NaN missing, str typed like
        CSV text, bool the String "true"/"false", lists and objects the String of their JSON);
        a float array (Fractional, NaN missing); an integer array (Integral); a numpy masked
        array of those (masked entries missing); or text already classified (`TextClasses`).
        Known columns absent from `columns` count as missing.
        """
        for name, values in columns.items():
            if isinstance(values, TextClasses):
                seen = (
                    values.n_missing
                    + values.n_non_finite
                    + len(values.numbers)
                    + len(values.strings)
                )
                if seen != n_rows:
                    raise ProfileError(f"column {name!r} has {seen} values, expected {n_rows}")
                self._add_classes(self._feature_or_new(name), values)
                continue
            if len(values) != n_rows:
                raise ProfileError(f"column {name!r} has {len(values)} values, expected {n_rows}")
            self._update_column(self._feature_or_new(name), values)
        for name, feature in self._features.items():
            if name not in columns:
                feature.missing += n_rows
        self.item_count += n_rows

    def _update_column(
        self, feature: FeatureProfile, values: Sequence[Any] | npt.NDArray[Any]
    ) -> None:
        if isinstance(values, np.ma.MaskedArray):
            # Masked entries are missing (Parquet nulls in integer columns, for instance).
            mask = np.ma.getmaskarray(values)
            feature.missing += int(mask.sum())
            values = np.asarray(values.data[~mask])
        if isinstance(values, np.ndarray):
            kind = values.dtype.kind
            if kind == "f":
                floats = values.astype(np.float64, copy=False)
                present = floats[np.isfinite(floats)]
                infinite = int(np.isinf(floats).sum())
                feature.add_non_finite(infinite)
                feature.missing += len(floats) - len(present) - infinite
                feature.add_numbers(present, 0)
                return
            if kind in "iu":
                feature.add_numbers(values.astype(np.float64), len(values))
                return
            if kind == "U":
                self._update_text(feature, values)
                return
            if kind == "b":
                feature.add_strings(np.where(values, "true", "false"))
                return
            values = values.tolist()
        self._update_python(feature, list(values))

    def _update_text(self, feature: FeatureProfile, values: npt.NDArray[np.str_]) -> None:
        self._add_classes(feature, classify_text(values))

    @staticmethod
    def _add_classes(feature: FeatureProfile, classes: TextClasses) -> None:
        feature.missing += classes.n_missing
        feature.add_non_finite(classes.n_non_finite)
        feature.add_numbers(classes.numbers, classes.n_integral, classes.number_text_counts)
        feature.add_strings(classes.strings)

    def _update_python(self, feature: FeatureProfile, values: Sequence[Any]) -> None:
        if all(type(v) is str for v in values):
            self._update_text(feature, np.asarray(values, dtype=str))
            return
        numbers: list[float] = []
        written: list[str] = []  # the numbers' texts, as JSON wrote them
        n_integral = 0
        texts: list[str] = []
        strings: list[str] = []
        missing = non_finite = 0
        for value in values:
            if value is None:
                missing += 1
            elif isinstance(value, bool):
                strings.append("true" if value else "false")
            elif isinstance(value, int | float):
                number = _finite_float(value)
                if number is None:
                    non_finite += value == value  # NaN is missing; infinities are counted
                    missing += 1
                else:
                    numbers.append(number)
                    written.append(str(value) if isinstance(value, int) else repr(value))
                    n_integral += isinstance(value, int)
            elif isinstance(value, str):
                texts.append(value)
            else:
                strings.append(orjson.dumps(value, default=str).decode("utf-8"))
        feature.missing += missing - non_finite
        feature.add_non_finite(non_finite)
        feature.add_numbers(
            np.asarray(numbers, dtype=np.float64),
            n_integral,
            text_counts(np.asarray(written, dtype=str)),
        )
        feature.add_strings(np.asarray(strings, dtype=str))
        if texts:
            self._update_text(feature, np.asarray(texts, dtype=str))

    def update_numeric_matrix(
        self,
        names: Sequence[str],
        matrix: npt.NDArray[np.float64],
        integral: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """Absorb a (rows, columns) float64 batch; NaN is missing. The fast path: one KLL update
        and a few numpy reductions per column.

        `integral`: per column (True: all its values Integral) or per value (a bool matrix of the
        same shape); None counts whole numbers as Integral and the rest as Fractional.
        Known columns absent from `names` count as missing.
        """
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            raise ProfileError(
                f"matrix shape {matrix.shape} does not match {len(names)} column names"
            )
        rows = matrix.shape[0]
        nan = ~np.isfinite(matrix)  # NaN is missing; so are infinities, counted as non-finite
        any_nan = bool(nan.any())
        infinite = np.isinf(matrix).sum(axis=0) if any_nan else np.zeros(len(names), np.int64)
        integral_counts = self._integral_counts(matrix, nan, integral)
        counts, sums, m2s, lows, highs = _column_moments(matrix, nan if any_nan else None)
        by_column = np.ascontiguousarray(matrix.T)
        nan_by_column = np.ascontiguousarray(nan.T) if any_nan else None
        for j, name in enumerate(names):
            feature = self._feature_or_new(name)
            count = int(counts[j])
            feature.add_non_finite(int(infinite[j]))
            feature.missing += rows - count - int(infinite[j])
            if count == 0:
                continue
            feature.add_moments(
                count, float(sums[j]), float(m2s[j]), float(lows[j]), float(highs[j])
            )
            feature.numeric_texts = None  # numbers without their text: not countable as categories
            feature.integral += int(integral_counts[j])
            feature.fractional += count - int(integral_counts[j])
            column = by_column[j]
            if nan_by_column is not None and count < rows:
                column = column[~nan_by_column[j]]
            feature.sketch.update(column)
        seen = set(names)
        for name, feature in self._features.items():
            if name not in seen:
                feature.missing += rows
        self.item_count += rows

    @staticmethod
    def _integral_counts(
        matrix: npt.NDArray[np.float64],
        nan: npt.NDArray[np.bool_],
        integral: Sequence[bool] | npt.NDArray[np.bool_] | None,
    ) -> npt.NDArray[np.int64]:
        present = (~nan).sum(axis=0)
        if integral is None:
            return np.asarray(((matrix == np.trunc(matrix)) & ~nan).sum(axis=0), dtype=np.int64)
        flags = np.asarray(integral, dtype=bool)
        if flags.shape == matrix.shape:
            return np.asarray((flags & ~nan).sum(axis=0), dtype=np.int64)
        if flags.shape != (matrix.shape[1],):
            raise ProfileError(
                f"integral flags of shape {flags.shape} fit neither the columns nor the matrix"
            )
        return np.where(flags, present, 0).astype(np.int64)

    def absorb(self, other: DatasetProfile) -> None:
        """Add another profile into this one (in place)."""
        before = self.item_count
        for name, theirs in other._features.items():
            ours = self._features.get(name)
            if ours is None:
                ours = FeatureProfile(name=name, missing=before)
                self._features[name] = ours
            ours.absorb(theirs)
        for name, ours in self._features.items():
            if name not in other._features:
                ours.missing += other.item_count
        self.item_count += other.item_count

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """A new profile of both datasets; neither input changes."""
        merged = DatasetProfile.from_bytes(self.to_bytes())
        merged.absorb(other)
        return merged

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "format": _FORMAT_VERSION,
                "item_count": self.item_count,
                "features": [f.to_json() for f in self._features.values()],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DatasetProfile:
        try:
            raw = orjson.loads(data)
            if raw.get("format") != _FORMAT_VERSION:
                raise ProfileError(f"profile format {raw.get('format')!r} is not supported")
            profile = cls()
            profile.item_count = int(raw["item_count"])
            for item in raw["features"]:
                feature = FeatureProfile.from_json(item)
                profile._features[feature.name] = feature
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ProfileError(f"not a serialised DatasetProfile: {exc}") from exc
        return profile

    def view(self) -> ProfileView:
        """An immutable snapshot for the checks (they never see this mutable profile)."""
        features = {name: feature.view() for name, feature in self._features.items()}
        return ProfileView(self.item_count, tuple(features), MappingProxyType(features))

    def to_statistics(self, sketches: bool = True) -> Statistics:
        """The statistics.json document; without `sketches`, numeric features leave out their
        KLL buckets and sketch (the checks read those from the view; `watch` checks every step)."""
        return Statistics(
            item_count=self.item_count,
            features=[f.to_feature_statistics(sketches) for f in self._features.values()],
        )


def _column_moments(
    matrix: npt.NDArray[np.float64], nan: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[Any], ...]:
    """Per column of a (rows, columns) batch: present count, sum, M2 (sum of squared deviations
    from the column mean), min and max, leaving out the NaN entries that `nan` marks."""
    rows, width = matrix.shape
    if nan is None:
        sums = matrix.sum(axis=0)
        m2s = np.square(matrix - sums / max(rows, 1)).sum(axis=0)
        lows = matrix.min(axis=0) if rows else np.full(width, np.inf)
        highs = matrix.max(axis=0) if rows else np.full(width, -np.inf)
        return np.full(width, rows), sums, m2s, lows, highs
    counts = (~nan).sum(axis=0)
    sums = np.where(nan, 0.0, matrix).sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    m2s = np.square(np.where(nan, 0.0, matrix - means)).sum(axis=0)
    lows = np.where(nan, np.inf, matrix).min(axis=0)
    highs = np.where(nan, -np.inf, matrix).max(axis=0)
    return counts, sums, m2s, lows, highs


def _finite_float(value: int | float) -> float | None:
    """A JSON number as a finite float, or None (NaN, infinities, integers beyond a double)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
