"""JSON payloads -> feature rows: objects, lists of them, `{"instances": ...}`,
`{"predictions": ...}`, columnar `{"inputs": {...}}` and Open Inference Protocol tensors.

A row is positional (a list of values) or named (a dict feature -> value); nested objects and
lists become dotted names (`a.b`, `c.0`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

Row = list[Any] | dict[str, Any]


class DecodeError(ValueError):
    """A payload no decoder understood; counted as a decode error."""


class TooWideError(DecodeError):
    """A row of far more values than the baseline has columns; counted as a wrong column count."""


def json_documents(text: str) -> list[Any]:
    """One JSON document, or JSON Lines (one document a line)."""
    try:
        return [orjson.loads(text)]
    except orjson.JSONDecodeError as first:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise DecodeError(f"not JSON: {first}") from first
        try:
            return [orjson.loads(line) for line in lines]
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"not JSON or JSON Lines: {exc}") from exc


def json_rows(document: Any, columns: frozenset[str] = frozenset()) -> list[Row]:
    """Rows of one JSON document in any supported shape (see the module docstring)."""
    if isinstance(document, dict):
        for key in ("instances", "predictions"):
            value = document.get(key)
            if isinstance(value, list):
                return [row_of(item) for item in value]
        for key in ("inputs", "outputs"):
            value = document.get(key)
            if isinstance(value, list) and value and all(_is_tensor(t) for t in value):
                return oip_rows(value, columns)
            if isinstance(value, list):
                return [row_of(item) for item in value]
            if isinstance(value, dict):
                return _columnar_rows(value)
        return [flatten(document)]
    if isinstance(document, list):
        if not document:
            return []
        if all(isinstance(item, dict | list) for item in document):
            return [row_of(item) for item in document]
        return [row_of(document)]
    return [[document]]


def row_of(item: Any) -> Row:
    if isinstance(item, dict):
        return flatten(item)
    if isinstance(item, list):
        return list(_flat_values(item))
    return [item]


def _flat_values(values: Iterable[Any]) -> Iterable[Any]:
    for value in values:
        if isinstance(value, list):
            yield from _flat_values(value)
        else:
            yield value


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects and lists become dotted names: {"a": {"b": 1}, "c": [2]} -> a.b, c.0.

    A document that is flat already is returned as it is (not copied).
    """
    kinds = set(map(type, document.values()))
    if not prefix and dict not in kinds and list not in kinds:
        return document if isinstance(document, dict) else dict(document)
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            for index, item in enumerate(_flat_values(value)):
                flat[f"{name}.{index}"] = item
        else:
            flat[name] = value
    return flat


def _columnar_rows(columns: Mapping[str, Any]) -> list[Row]:
    """TF-Serving's columnar `{"inputs": {"a": [1, 2], "b": [3, 4]}}` -> two named rows."""
    lists = {k: v if isinstance(v, list) else [v] for k, v in columns.items()}
    length = max((len(v) for v in lists.values()), default=0)
    if any(len(v) != length for v in lists.values()):
        raise DecodeError("columnar inputs of different lengths")
    return [{k: _scalar(v[i]) for k, v in lists.items()} for i in range(length)]


def _scalar(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and "data" in value and "name" in value


def oip_rows(
    tensors: Sequence[Mapping[str, Any]], columns: frozenset[str] = frozenset()
) -> list[Row]:
    """Open Inference Protocol tensors -> rows (first dimension of `shape` = batch).

    One tensor of several values a row gives positional rows; otherwise each tensor is a named
    feature (`name`, or `name.j` for its j-th value when a row holds several).
    """
    decoded = [_tensor_rows(t) for t in tensors]
    batch = {len(rows) for _, rows in decoded}
    if len(batch) != 1:
        raise DecodeError("Open Inference Protocol tensors with different batch sizes")
    (size,) = batch
    if len(decoded) == 1:
        name, rows = decoded[0]
        if not (len(rows) and len(rows[0]) == 1 and name in columns):
            return [list(r) for r in rows]
    out: list[Row] = []
    for index in range(size):
        row: dict[str, Any] = {}
        for name, rows in decoded:
            values = rows[index]
            if len(values) == 1:
                row[name] = values[0]
            else:
                for j, value in enumerate(values):
                    row[f"{name}.{j}"] = value
        out.append(row)
    return out


def _tensor_rows(tensor: Mapping[str, Any]) -> tuple[str, list[list[Any]]]:
    name = str(tensor.get("name", ""))
    data = tensor.get("data")
    values = list(_flat_values(data)) if isinstance(data, list) else [data]
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        shape = [len(values)]
    if not shape:
        shape = [1]
    if math.prod(shape) != len(values):
        raise DecodeError(f"tensor {name!r}: shape {shape} does not hold {len(values)} values")
    batch = shape[0]
    width = math.prod(shape[1:]) if len(shape) > 1 else 1
    return name, [values[i * width : (i + 1) * width] for i in range(batch)]
