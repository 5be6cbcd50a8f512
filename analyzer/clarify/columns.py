"""Columns as Clarify sees them: parsed values, categorical or continuous, and the boolean
indexes of its facet groups and positive labels (smclarify's `series_datatype` and
`_interval_index` rules, so that a threshold and a category list mean what they mean there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.results.problem import LabelValueError, class_label

CATEGORICAL = "categorical"
CONTINUOUS = "continuous"
# smclarify: an integer column with at least 5 % distinct values is continuous.
UNIQUENESS_THRESHOLD = 0.05

Bools = npt.NDArray[np.bool_]
Column = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class Group:
    """One facet group: its `value_or_threshold` text and which rows are in it."""

    text: str
    rows: Bools


def parse_column(values: Sequence[Any]) -> Column:
    """Values as pandas would type a CSV column: bool, int64, float64 (blanks NaN) or text."""
    if values and all(isinstance(v, bool | np.bool_) for v in values):
        return np.asarray(values, dtype=np.bool_)
    blanks = None in values or "" in values  # scans in C: the common case has none
    cleaned = [None if v is None or v == "" else v for v in values] if blanks else list(values)
    if not blanks and not any(isinstance(v, float) for v in cleaned):
        try:
            return np.asarray(cleaned, dtype=np.int64)
        except (ValueError, TypeError, OverflowError):
            pass
    try:
        return np.asarray([np.nan if v is None else v for v in cleaned], dtype=np.float64)
    except (ValueError, TypeError):
        return np.asarray(["" if v is None else str(v) for v in cleaned], dtype=object)


def kind(column: Column, given: Sequence[Any] | None) -> str:
    """smclarify's series_datatype: a list of values is categorical; floats continuous; integers
    continuous when at least 5 % of them are distinct; text and booleans categorical."""
    if given is not None and len(given) > 1:
        return CATEGORICAL
    if column.dtype == np.float64:
        return CONTINUOUS
    if column.dtype == np.int64:
        count = column.size
        distinct = len(np.unique(column))
        return CONTINUOUS if count and distinct / count >= UNIQUENESS_THRESHOLD else CATEGORICAL
    if column.dtype == object:
        try:
            as_int = column.astype(np.int64)
        except (ValueError, TypeError, OverflowError):
            return CATEGORICAL
        return kind(as_int, given)
    return CATEGORICAL


def numeric(column: Column) -> npt.NDArray[np.float64]:
    return column.astype(np.float64)


def threshold_rows(column: Column, threshold: Any, data_max: Any) -> tuple[str, Bools]:
    """smclarify's `_interval_index`: the breaks are the threshold and the data's maximum
    (unless the threshold equals |maximum|), the group is (low, high]; its text is pandas'."""
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise LabelValueError(
                "Facet/label value provided must be a single numeric threshold for continuous data"
            ) from None
    breaks: list[Any] = [threshold]
    if abs(data_max) != threshold:
        breaks.append(data_max)
    breaks.sort()
    if len(breaks) < 2:
        return "", np.zeros(column.size, dtype=np.bool_)
    low, high = breaks
    values = numeric(column)
    rows = (values > low) & (values <= high)
    integral = all(isinstance(b, int | np.integer) and not isinstance(b, bool) for b in breaks)
    if integral:
        return f"({int(low)}, {int(high)}]", rows
    return f"({float(low)!s}, {float(high)!s}]", rows


def _texts(values: Sequence[Any]) -> set[str]:
    found = set()
    for value in values:
        try:
            found.add(class_label(value))
        except LabelValueError:
            continue
    return found


def category_rows(column: Column, values: Sequence[Any]) -> Bools:
    """Rows whose value is one of `values`; numbers compare as numbers (`1.0` is `1`)."""
    wanted = _texts(values)
    uniques, inverse = np.unique(
        column.astype(str) if column.dtype == object else column, return_inverse=True
    )
    hit = np.array([_safe_label(u) in wanted for u in uniques.tolist()], dtype=np.bool_)
    return hit[inverse] if uniques.size else np.zeros(column.size, dtype=np.bool_)


def _safe_label(value: Any) -> str | None:
    try:
        return class_label(value)
    except LabelValueError:
        return None


def column_max(column: Column) -> Any:
    """The maximum, as an int when the column holds integers (the breaks' type follows it)."""
    if column.dtype == np.int64:
        return int(column.max())
    values = numeric(column)
    return float(np.nanmax(values))


def facet_groups(
    column: Column, values: tuple[Any, ...] | None, known: str | None = None
) -> list[Group]:
    """The groups of one facet: the given categories as one group, a threshold's interval, or
    (no values given) each distinct value against the rest, in order of first appearance.
    `known`: the facet's type when a baseline decided it (else it is inferred, as Clarify does)."""
    if column.size == 0:
        return []
    if (known or kind(column, values)) == CONTINUOUS:
        if not values:
            raise LabelValueError("Threshold values must be provided for continuous features")
        text, rows = threshold_rows(column, values[0], column_max(column))
        return [Group(text, rows)]
    if values:
        return [Group(",".join(map(str, values)), category_rows(column, values))]
    uniques, first, inverse = np.unique(column, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    return [Group(_text(uniques[i]), inverse == i) for i in order]


def _text(value: Any) -> str:
    return str(value.item() if isinstance(value, np.generic) else value)
