"""The numeric CSV fast path: records whose sides are one CSV line each -> float matrices.

A record becomes one string (outputs first, then inputs, as SageMaker lines up CSV columns);
a batch of such strings is parsed by orjson as one JSON array of numbers into a float matrix,
profiled with one KLL update per column. A batch holding something non-numeric is split: its
numeric rows keep the matrix, the others become text columns (classified as Deequ does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from analyzer.decoding.columns import LONG_VALUE_CHARS, Batch, Column, ColumnBatch, NumericBatch


class CsvBatcher:
    """Collects fast-path CSV records by their first column, and turns them into batches."""

    def __init__(self, columns: Sequence[str], monitor: str) -> None:
        self._columns = tuple(columns)
        self._monitor = monitor
        self._buffers: dict[int, list[str]] = {}  # first column offset -> CSV strings
        self.last_size = 0  # rows buffered where the last record went

    def offer(self, endpoint_input: Any, endpoint_output: Any, width: int) -> bool:
        """Buffer the record when its sides are single numeric-looking CSV lines that hold the
        baseline's column count; `width` is the number of leading output columns."""
        monitor = self._monitor
        inp = _csv_line(endpoint_input) if monitor != "output" else None
        if inp is None and monitor != "output" and endpoint_input is not None:
            return False
        out = _csv_line(endpoint_output) if monitor != "input" else None
        if out is None and monitor != "input" and endpoint_output is not None:
            return False
        total = len(self._columns)
        if inp is not None and out is not None:
            text, offset, expected = out + "," + inp, 0, total
        elif inp is not None:
            text, offset, expected = inp, width, total - width
        elif out is not None:
            text, offset, expected = out, 0, width
        else:
            return False
        if expected <= 0 or text.count(",") != expected - 1:
            return False
        buffer = self._buffers.get(offset)
        if buffer is None:
            buffer = self._buffers[offset] = []
        buffer.append(text)
        self.last_size = len(buffer)
        return True

    def take(self) -> list[Batch]:
        """Every buffered record as batches; the buffers are emptied."""
        buffers, self._buffers = self._buffers, {}
        self.last_size = 0
        batches: list[Batch] = []
        for offset, rows in buffers.items():
            width = rows[0].count(",") + 1
            batches.extend(csv_batches(rows, self._columns[offset : offset + width]))
        return batches


def _csv_line(side: Any) -> str | None:
    """The data of a CSV side that is exactly one unquoted line, else None."""
    if type(side) is not dict or side.get("encoding") != "CSV":
        return None
    data = side.get("data")
    if type(data) is not str or not data:
        return None
    if data[-1] == "\n":
        data = data.rstrip("\r\n")
    if "\n" in data or '"' in data or not data:
        return None
    return data


def csv_batches(rows: list[str], names: Sequence[str]) -> list[Batch]:
    """CSV strings of len(names) values each -> a numeric batch, or numeric and text batches."""
    matrix = number_matrix(rows, len(names))
    if matrix is not None:
        return [NumericBatch(names, matrix, integral_mask(rows, matrix))]
    numeric: list[str] = []
    other: list[str] = []
    for text in rows:
        (numeric if number_matrix([text], len(names)) is not None else other).append(text)
    batches: list[Batch] = []
    if numeric:
        matrix = number_matrix(numeric, len(names))
        assert matrix is not None
        batches.append(NumericBatch(names, matrix, integral_mask(numeric, matrix)))
    split = [text.split(",") for text in other]
    if any(" " in text for text in other):
        split = [[value.strip() for value in values] for values in split]
    # numpy pads text to the longest value of a column: a long value gets a batch of its own.
    short = [values for values in split if max(map(len, values)) <= LONG_VALUE_CHARS]
    if short:
        columns: dict[str, Any] = {
            name: np.array(values, dtype=str)
            for name, values in zip(names, zip(*short, strict=True), strict=True)
        }
        batches.append(ColumnBatch(columns, len(short)))
    for values in split:
        if max(map(len, values)) > LONG_VALUE_CHARS:
            long_row: dict[str, Column] = {
                name: [value] for name, value in zip(names, values, strict=True)
            }
            batches.append(ColumnBatch(long_row, 1, long_text=True))
    return batches


def number_matrix(rows: list[str], width: int) -> npt.NDArray[np.float64] | None:
    """Parse rows of comma-separated JSON numbers into a (rows, width) matrix, or None."""
    joined = ",".join(rows)
    # JSON reads true/false/null as booleans and null; Deequ calls them strings.
    if "t" in joined or "l" in joined:
        return None
    try:
        flat = orjson.loads("[" + joined + "]")
    except orjson.JSONDecodeError:
        return None
    if len(flat) != len(rows) * width:
        return None
    try:
        matrix = np.fromiter(flat, dtype=np.float64, count=len(flat))
    except (TypeError, ValueError):
        return None
    if not np.isfinite(matrix).all():
        return None
    return matrix.reshape(len(rows), width)


def integral_mask(rows: list[str], matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Per value: True where the text was Integral (no '.', no exponent), as Deequ classifies.

    Whole numbers written with a dot ("2.0") are Fractional text; a row whose dot count equals
    its number of non-whole values holds none of them, so only other rows are looked at closely.
    """
    fractional = matrix != np.floor(matrix)
    dots = np.fromiter((text.count(".") for text in rows), dtype=np.int64, count=len(rows))
    exact = dots == fractional.sum(axis=1)
    joined = ",".join(rows)
    if "e" in joined or "E" in joined:
        exponent = np.fromiter(
            ("e" in text or "E" in text for text in rows), dtype=np.bool_, count=len(rows)
        )
        exact &= ~exponent
    mask: npt.NDArray[np.bool_] = ~fractional
    for index in np.flatnonzero(~exact):
        fields = rows[index].split(",")
        mask[index] = [not ("." in f or "e" in f or "E" in f) for f in fields]
    return mask
