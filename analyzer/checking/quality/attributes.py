"""Where a prediction sits in a captured output: a CSV column index, a JSON path, an OIP tensor.

`--inference-attribute` / `--probability-attribute` take `"0"` (CSV column 0, or item 0 of a
top-level JSON list), a JSON path such as `predictions[0]`, `predictions[0].score` or
`outputs[0].data[0]` (Open Inference Protocol), or a plain name (`probability`): a key of the
JSON output or a column of a baseline dataset.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

import orjson

from analyzer.errors import ConfigError

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class MissingAttribute(LookupError):
    """The attribute is not in this output (or the output does not parse); counted."""


@dataclass(frozen=True, slots=True)
class Attribute:
    """A compiled attribute: `column` for a CSV index, `path` steps for JSON."""

    spec: str
    column: int | None
    path: tuple[str | int, ...]

    @classmethod
    def parse(cls, spec: str, flag: str) -> Attribute:
        text = spec.strip()
        if not text:
            raise ConfigError(f"{flag} is empty; give a CSV column index such as 0 or a JSON path")
        if text.isdigit():
            return cls(text, int(text), (int(text),))
        steps: list[str | int] = []
        position = 0
        for match in _TOKEN.finditer(text):
            gap = text[position : match.start()]
            if gap not in ("", "."):
                break
            name, index = match.groups()
            steps.append(int(index) if index is not None else name)
            position = match.end()
        if position != len(text) or not steps:
            raise ConfigError(
                f"{flag} {spec!r} is neither a column index (0) nor a JSON path "
                "(predictions[0], outputs[0].data[0], score)"
            )
        return cls(text, None, tuple(steps))

    def from_output(self, output: Any) -> Any:
        """The attribute's value in a capture record's `endpointOutput` object."""
        if not isinstance(output, dict):
            raise MissingAttribute("the record has no endpointOutput")
        data, encoding = output.get("data"), output.get("encoding")
        if not isinstance(data, str):
            raise MissingAttribute("endpointOutput has no data")
        if encoding == "BASE64":
            try:
                data = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise MissingAttribute("BASE64 output is not UTF-8 text") from None
            encoding = "JSON" if data.lstrip()[:1] in ("{", "[") else "CSV"
        if encoding == "JSON":
            try:
                return self.from_document(orjson.loads(data))
            except orjson.JSONDecodeError:
                raise MissingAttribute("JSON output does not parse") from None
        return self.from_csv(data)

    def from_csv(self, text: str) -> str:
        if self.column is None:
            raise MissingAttribute(f"{self.spec!r} is a JSON path but the output is CSV")
        values = text.split("\n", 1)[0].split(",")
        if self.column >= len(values):
            raise MissingAttribute(f"the CSV output has no column {self.column}")
        return values[self.column].strip().strip('"')

    def from_document(self, document: Any) -> Any:
        value = document
        for step in self.path:
            if isinstance(value, str):
                raise MissingAttribute(f"the output has no {self.spec}")
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                raise MissingAttribute(f"the output has no {self.spec}") from None
        return value
