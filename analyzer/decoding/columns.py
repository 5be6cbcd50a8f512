"""Decoded rows -> column batches: what the profiling stage absorbs, one update per column.

A `ColumnBatch` holds columns of JSON values or text (all-float and all-int columns as numpy
arrays); a `NumericBatch` a float matrix with per-value Integral flags (the CSV fast path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

Column = Sequence[Any] | npt.NDArray[Any]
_INT64_LIMIT = 2.0**63
# Text columns become numpy arrays that pad every value to the longest: rows holding a longer
# value are profiled in batches of their own, so one huge value costs its size, not rows times.
LONG_VALUE_CHARS = 4096


@dataclass(frozen=True, slots=True)
class ColumnBatch:
    """`rows` rows given column by column (name -> values); `long_text` when some text value is
    longer than LONG_VALUE_CHARS (to be classified without padding every value to it)."""

    columns: dict[str, Column]
    rows: int
    long_text: bool = False


@dataclass(frozen=True, slots=True)
class NumericBatch:
    """A (rows, len(names)) float matrix; `integral` flags the values written as integers, per
    value (a matrix of the same shape) or per column."""

    names: Sequence[str]
    matrix: npt.NDArray[np.float64]
    integral: npt.NDArray[np.bool_]


Batch = ColumnBatch | NumericBatch


def rows_to_batch(rows: Sequence[dict[str, Any]]) -> Batch:
    """Named rows -> a batch; a row without some column's name is missing that value.

    Rows that all hold the same names and number types (the usual case) become a NumericBatch
    in one numpy conversion; others are transposed column by column.
    """
    if not rows:
        return ColumnBatch({}, 0)
    keys = tuple(rows[0])
    values = uniform_values(rows, keys)
    if values is not None:
        numbers = number_rows(values)
        if numbers is not None:
            return NumericBatch(keys, *numbers)
        columns = {
            name: column_values(column)
            for name, column in zip(keys, zip(*values, strict=True), strict=True)
        }
        return ColumnBatch(columns, len(rows))
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {name: column_values(tuple(row.get(name) for row in rows)) for name in names}
    return ColumnBatch(columns, len(rows))


def uniform_values(rows: Sequence[dict[str, Any]], keys: tuple[str, ...]) -> list[Any] | None:
    """Each row's values as a tuple in the order of `keys`, when every row has exactly those."""
    if not keys or sum(map(len, rows)) != len(keys) * len(rows):
        return None
    if len(keys) == 1:  # itemgetter of one key gives a value, not a 1-tuple
        (key,) = keys
        return [(row[key],) for row in rows] if all(key in row for row in rows) else None
    try:
        return list(map(itemgetter(*keys), rows))
    except KeyError:
        return None


def number_rows(
    values: list[Any],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]] | None:
    """Rows of numbers (equal-length tuples) -> a float matrix and, per column, whether it holds
    integers; None unless every row has the same int/float types (columns typed as
    `column_values` types them: all-int Integral, all-float Fractional)."""
    first = tuple(map(type, values[0]))
    if not set(first) <= {int, float} or not all(tuple(map(type, row)) == first for row in values):
        return None
    try:
        matrix = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond float range
        return None
    ints = np.array([kind is int for kind in first], dtype=np.bool_)
    if np.abs(matrix[:, ints]).max(initial=0.0) >= _INT64_LIMIT:
        return None  # column_values keeps such integers as Python ints
    return matrix, ints


def column_values(values: tuple[Any, ...]) -> Column:
    """A column of JSON values; all-float or all-int columns as numpy arrays (the fast path)."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        (kind,) = kinds
        if kind is float:
            return np.array(values, dtype=np.float64)
        if kind is int:
            try:
                return np.array(values, dtype=np.int64)
            except OverflowError:
                return values
    return values


def has_long_value(row: dict[str, Any]) -> bool:
    """True when a row holds text longer than LONG_VALUE_CHARS (or a list or object, profiled
    as the text of its JSON)."""
    for value in row.values():
        kind = type(value)
        if (kind is str and len(value) > LONG_VALUE_CHARS) or kind is list or kind is dict:
            return True
    return False
