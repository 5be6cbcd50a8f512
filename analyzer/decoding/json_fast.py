"""The JSON fast path: `{"instances": [{...}]}` requests answered by `{"predictions": [...]}`.

Such a record gives one row per instance: the prediction under the baseline's first column,
then the instance's features, exactly as `Decoder.rows` names them. A batch holds rows whose
instances have the same features and number types as the batch's first (the usual traffic);
their values are kept as tuples, the parsed objects die young, and the batch becomes one float
matrix in one numpy call. Any other record takes the general path.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from analyzer.decoding.columns import Batch, ColumnBatch, NumericBatch, column_values

_INT64_LIMIT = 2.0**63
_NUMBERS = (int, float)


class InstanceBatcher:
    """Collects the rows of fast-path JSON records until they are taken as one batch."""

    def __init__(self, output_name: str, max_values: int) -> None:
        self._name = output_name
        self._max_values = max_values
        self._keys: tuple[str, ...] = ()
        self._types: tuple[type, ...] = ()  # the batch's instance value types, key by key
        self._output_type: type = float
        # Values packed as doubles, a row a time: parsed objects die young (allocator stays warm).
        self._pack = struct.Struct("d").pack
        self._values: list[bytes] = []
        self._predictions: list[float] = []

    @property
    def size(self) -> int:
        return len(self._predictions)

    def offer(self, endpoint_input: Any, endpoint_output: Any) -> bool:
        """Buffer the record's rows when it has the fast shape (see the module docstring)."""
        instances, predictions = _instances_and_predictions(endpoint_input, endpoint_output)
        if not instances or predictions is None or len(predictions) != len(instances):
            return False
        if not self._predictions and not self._start(instances[0], predictions[0]):
            return False
        keys, types, output_type = self._keys, self._types, self._output_type
        for item, prediction in zip(instances, predictions, strict=True):
            if type(item) is not dict or type(prediction) is not output_type:
                return False
            # orjson hands out one str object per key text: comparing keys is cheap.
            if tuple(item) != keys or tuple(map(type, item.values())) != types:
                return False
        if output_type is int and not all(-_INT64_LIMIT < p < _INT64_LIMIT for p in predictions):
            return False  # column_values keeps such integers as Python ints
        try:
            packed = [self._pack(*item.values()) for item in instances]
        except OverflowError:  # an integer beyond float range: the general path reads it
            return False
        self._values.extend(packed)
        self._predictions.extend(predictions)
        return True

    def _start(self, item: Any, prediction: Any) -> bool:
        """Take the first row's features and number types as the batch's."""
        if type(item) is not dict or type(prediction) not in _NUMBERS:
            return False
        keys = tuple(item)
        if not keys or len(keys) > self._max_values or self._name in item:
            return False
        types = tuple(map(type, item.values()))
        if not set(types) <= set(_NUMBERS):
            return False
        self._keys, self._types, self._output_type = keys, types, type(prediction)
        self._pack = struct.Struct(f"{len(keys)}d").pack
        return True

    def take(self) -> Batch | None:
        """The buffered rows as one batch (None when there are none); the buffer is emptied."""
        values, predictions = self._values, self._predictions
        if not predictions:
            return None
        self._values, self._predictions = [], []
        names = (self._name, *self._keys)
        matrix = np.empty((len(predictions), len(names)), dtype=np.float64)
        matrix[:, 0] = predictions
        matrix[:, 1:] = np.frombuffer(b"".join(values), dtype=np.float64).reshape(len(values), -1)
        ints = np.array([kind is int for kind in (self._output_type, *self._types)])
        if np.abs(matrix[:, ints]).max(initial=0.0) >= _INT64_LIMIT:
            # As column_values: integers beyond int64 are profiled as Python numbers.
            columns = {name: column.tolist() for name, column in zip(names, matrix.T, strict=True)}
            for name, is_int in zip(names, ints, strict=True):
                if is_int:
                    columns[name] = [int(value) for value in columns[name]]
            return ColumnBatch(
                {k: column_values(tuple(v)) for k, v in columns.items()}, len(matrix)
            )
        return NumericBatch(names, matrix, ints)


def _instances_and_predictions(endpoint_input: Any, endpoint_output: Any) -> tuple[Any, Any]:
    """The "instances" and "predictions" lists of two JSON sides (None where there are none)."""
    if type(endpoint_input) is not dict or type(endpoint_output) is not dict:
        return None, None
    if endpoint_input.get("encoding") != "JSON" or endpoint_output.get("encoding") != "JSON":
        return None, None
    request, response = endpoint_input.get("data"), endpoint_output.get("data")
    if type(request) is not str or type(response) is not str:
        return None, None
    try:
        request, response = orjson.loads(request), orjson.loads(response)
    except orjson.JSONDecodeError:
        return None, None
    # json_rows reads "instances" first, on either side.
    if type(request) is not dict or type(response) is not dict or "instances" in response:
        return None, None
    instances, predictions = request.get("instances"), response.get("predictions")
    if type(instances) is not list or type(predictions) is not list:
        return None, None
    return instances, predictions
