"""The JSON fast path: `{"instances": [{...}]}` requests answered by `{"predictions": [...]}`.

Such a record gives one row per instance: the prediction under the baseline's first column,
then the instance's features, exactly as `Decoder.rows` names them. Instances are kept as
parsed and turned into columns a batch at a time (one numpy conversion for the whole batch
when every row has the same features and value types), instead of one merged dict per row.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from analyzer.decoding.columns import (
    ColumnBatch,
    column_values,
    numeric_columns,
    rows_to_columns,
    uniform_values,
)
from analyzer.decoding.json_rows import flatten


class InstanceBatcher:
    """Collects the rows of fast-path JSON records until they are taken as one batch."""

    def __init__(self, output_name: str, max_values: int) -> None:
        self._name = output_name
        self._max_values = max_values
        self._instances: list[dict[str, Any]] = []
        self._predictions: list[Any] = []

    @property
    def size(self) -> int:
        return len(self._instances)

    def offer(self, endpoint_input: Any, endpoint_output: Any) -> bool:
        """Buffer the record's rows when it has the fast shape (see the module docstring)."""
        instances = _json_list(endpoint_input, "instances")
        if instances is None:
            return False
        predictions = _json_list(endpoint_output, "predictions")
        if predictions is None or len(predictions) != len(instances) or not instances:
            return False
        name, limit = self._name, self._max_values
        for item, prediction in zip(instances, predictions, strict=True):
            if type(item) is not dict or name in item or len(item) > limit:
                return False
            if type(prediction) is dict or type(prediction) is list:
                return False
        self._instances.extend(instances)
        self._predictions.extend(predictions)
        return True

    def take(self) -> ColumnBatch | None:
        """The buffered rows as one batch (None when there are none); the buffer is emptied."""
        rows, predictions = self._instances, self._predictions
        if not rows:
            return None
        self._instances, self._predictions = [], []
        columns: dict[str, Any] = {self._name: column_values(tuple(predictions))}
        columns.update(_instance_columns(rows))
        return ColumnBatch(columns, len(rows))


def _json_list(side: Any, key: str) -> list[Any] | None:
    """`document[key]` of a JSON side whose document is an object with a list there, else None.

    A document holding "instances" is read by that key whichever side it is on (as json_rows).
    """
    if type(side) is not dict or side.get("encoding") != "JSON":
        return None
    data = side.get("data")
    if type(data) is not str:
        return None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(document) is not dict:
        return None
    if key != "instances" and type(document.get("instances")) is list:
        return None
    value = document.get(key)
    return value if type(value) is list else None


def _instance_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    values = uniform_values(rows, tuple(rows[0]))
    if values is not None:
        columns = numeric_columns(tuple(rows[0]), values)
        if columns is not None:
            return columns
    kinds = set(map(type, itertools.chain.from_iterable(map(dict.values, rows))))
    if dict in kinds or list in kinds:
        rows = [flatten(row) for row in rows]  # as json_rows names nested values
    return rows_to_columns(rows).columns
