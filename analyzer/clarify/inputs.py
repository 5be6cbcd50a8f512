"""A captured input's facet and group-variable values, read while the join streams the captures.

CSV inputs are the features in the order the model receives them (`headers` less the label and
the predicted label); the first line of a payload is its record. JSON inputs match by name: an
object, the first object of a list, or of `{"instances": [...]}`; a list of plain values is read
by position, as CSV is. A value that is absent is kept as None and counted by the run.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson


class InputColumns:
    """Called with each capture's endpointInput; keeps the wanted columns' values in order."""

    def __init__(self, wanted: Sequence[str], features: Sequence[str]) -> None:
        self.wanted = tuple(wanted)
        self.positions = tuple(
            features.index(name) if name in features else -1 for name in self.wanted
        )
        self.values: dict[str, list[Any]] = {name: [] for name in self.wanted}
        self._appenders = tuple(self.values[name].append for name in self.wanted)
        self._pairs = tuple(zip(self._appenders, self.positions, strict=True))

    def __call__(self, endpoint_input: Any) -> None:
        """The join calls this for every capture: plain CSV takes the short way."""
        try:
            data = endpoint_input["data"]
            plain = endpoint_input["encoding"] == "CSV" and '"' not in data
        except (KeyError, TypeError):
            plain = False
        if plain:
            values = data.split("\n", 1)[0].split(",")
            width = len(values)
            for append, position in self._pairs:
                append(values[position] if 0 <= position < width else None)
            return
        for append, value in zip(self._appenders, self._read(endpoint_input), strict=True):
            append(value)

    def _read(self, endpoint_input: Any) -> Sequence[Any]:
        missing = (None,) * len(self.wanted)
        if not isinstance(endpoint_input, dict):
            return missing
        data, encoding = endpoint_input.get("data"), endpoint_input.get("encoding")
        if not isinstance(data, str):
            return missing
        if encoding == "BASE64":
            try:
                data = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return missing
            encoding = "JSON" if data.lstrip()[:1] in ("{", "[") else "CSV"
        if encoding == "JSON":
            return self._from_json(data)
        return self._by_position(data.split("\n", 1)[0].split(","))

    def _by_position(self, values: Sequence[Any]) -> tuple[Any, ...]:
        width = len(values)
        return tuple(_clean(values[p]) if 0 <= p < width else None for p in self.positions)

    def _from_json(self, data: str) -> Sequence[Any]:
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            return (None,) * len(self.wanted)
        if isinstance(document, dict) and isinstance(document.get("instances"), list):
            document = document["instances"]
        if isinstance(document, list) and document and isinstance(document[0], dict | list):
            document = document[0]
        if isinstance(document, dict):
            features = document.get("features", document)
            if isinstance(features, list):
                return self._by_position(features)
            return tuple(document.get(name) for name in self.wanted)
        if isinstance(document, list):
            return self._by_position(document)
        return (None,) * len(self.wanted)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().strip('"')
        return value if value else None
    return value
