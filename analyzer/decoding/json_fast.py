"""The JSON fast path: `{"instances": [{...}]}` requests answered by `{"predictions": [...]}`.

Such a record gives one row per instance: the prediction under the baseline's first column,
then the instance's features, exactly as `Decoder.rows` names them. A batch holds rows whose
instances have the same features and number types as the batch's first (the usual traffic);
each row is packed into bytes as it arrives (the parsed objects die young) and the batch
becomes one float matrix. Any other record takes the general path.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from analyzer.decoding.columns import NumericBatch

_INT64_LIMIT = 2**63
_NUMBERS = (int, float)


class InstanceBatcher:
    """Collects the rows of fast-path JSON records until they are taken as one batch."""

    def __init__(self, output_name: str, max_values: int) -> None:
        self._name = output_name
        self._max_values = max_values
        self._keys: tuple[str, ...] = ()
        self._types: tuple[type, ...] = ()  # the batch's instance value types, key by key
        self._output_type: type = float
        self._pack = struct.Struct("=d").pack
        self._dots = 0  # "." in an instance's text whose floats are all written with one
        self._no_booleans = False  # whether "true"/"false" in the text can only be a boolean
        self._values: list[bytes] = []  # packed rows: int64 for int features, else double
        self._predictions: list[float] = []

    @property
    def size(self) -> int:
        return len(self._predictions)

    def offer(self, endpoint_input: Any, endpoint_output: Any) -> bool:
        """Buffer the record's rows when it has the fast shape (see the module docstring)."""
        text, instances, predictions = _instances_and_predictions(endpoint_input, endpoint_output)
        if not instances or predictions is None or len(predictions) != len(instances):
            return False
        if not self._predictions and not self._start(instances[0], predictions[0]):
            return False
        keys, output_type, pack = self._keys, self._output_type, self._pack
        packed = []
        for item, prediction in zip(instances, predictions, strict=True):
            # orjson hands out one str object per key text: comparing keys is cheap.
            if type(item) is not dict or type(prediction) is not output_type or tuple(item) != keys:
                return False
            try:
                packed.append(pack(*item.values()))
            except (struct.error, OverflowError):  # text, null, nested, a float as int, huge
                return False
        if not self._typed_alike(text, instances):
            return False
        if output_type is int and not all(-_INT64_LIMIT <= p < _INT64_LIMIT for p in predictions):
            return False  # column_values keeps such integers as Python ints
        self._values.extend(packed)
        self._predictions.extend(predictions)
        return True

    def _typed_alike(self, text: str, instances: list[dict[str, Any]]) -> bool:
        """True when every value has the type of the batch's first row in its feature.

        Packing let only numbers and booleans through, ints only where ints belong. Then a
        text whose dots are its keys' plus one per float feature holds floats in every float
        feature (an int or boolean has no dot, a float at most one, the wrapper is
        `{"instances": [...]}`), and one without "true"/"false" holds no boolean; otherwise
        the types are compared one by one.
        """
        dots = text.count(".") == self._dots * len(instances)
        if dots and self._no_booleans and "true" not in text and "false" not in text:
            return True
        types = self._types
        return all(tuple(map(type, item.values())) == types for item in instances)

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
        self._pack = struct.Struct("=" + "".join("q" if t is int else "d" for t in types)).pack
        self._dots = sum(key.count(".") for key in keys) + types.count(float)
        self._no_booleans = not any("true" in key or "false" in key for key in keys)
        return True

    def take(self) -> NumericBatch | None:
        """The buffered rows as one batch (None when there are none); the buffer is emptied."""
        values, predictions = self._values, self._predictions
        if not predictions:
            return None
        self._values, self._predictions = [], []
        ints = np.array([kind is int for kind in (self._output_type, *self._types)])
        packed = np.frombuffer(b"".join(values), dtype=np.float64).reshape(len(values), -1)
        matrix = np.empty((len(values), len(ints)), dtype=np.float64)
        matrix[:, 0] = predictions
        matrix[:, 1:] = packed
        int_features = ints[1:]
        if int_features.any():
            matrix[:, 1:][:, int_features] = packed.view(np.int64)[:, int_features]
        return NumericBatch((self._name, *self._keys), matrix, ints)


def _instances_and_predictions(endpoint_input: Any, endpoint_output: Any) -> tuple[str, Any, Any]:
    """The request text with the "instances" and "predictions" lists of two JSON sides whose
    request holds nothing else (None where there are none)."""
    if type(endpoint_input) is not dict or type(endpoint_output) is not dict:
        return "", None, None
    if endpoint_input.get("encoding") != "JSON" or endpoint_output.get("encoding") != "JSON":
        return "", None, None
    text, response = endpoint_input.get("data"), endpoint_output.get("data")
    if type(text) is not str or type(response) is not str:
        return "", None, None
    try:
        request, response = orjson.loads(text), orjson.loads(response)
    except orjson.JSONDecodeError:
        return "", None, None
    # json_rows reads "instances" first, on either side.
    if type(request) is not dict or len(request) != 1 or type(response) is not dict:
        return "", None, None
    instances, predictions = request.get("instances"), response.get("predictions")
    if type(instances) is not list or type(predictions) is not list or "instances" in response:
        return "", None, None
    return text, instances, predictions
