"""Field redaction applied to captured bodies before anything is written (DESIGN.md section 4).

JSON bodies (the configured JSON types and any `+json` type): dotted field paths (`customer.ssn`);
`*` matches every key of an object and every element of a list, a numeric segment picks one list
index, and a field name met at a list applies to each element. Redacted values become `null`.
CSV bodies: 0-based column indexes, blanked to an empty field in every row.
Only bodies whose media type is one of the configured CSV or JSON types are redacted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import orjson

from sidecar.common.record import (
    DEFAULT_CSV_TYPES,
    DEFAULT_JSON_TYPES,
    BodyRejected,
    Encoding,
    media_type,
    text_encoding,
)


class RedactionError(BodyRejected):
    """A body of a redactable type that could not be parsed, so it cannot be written safely."""


def _parse_paths(paths: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(p.split(".")) for p in paths if p]


def _redact_value(node: Any, path: tuple[str, ...]) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    if isinstance(node, list):
        if head == "*":
            indexes: Iterable[int] = range(len(node))
        elif head.isascii() and head.isdigit():
            indexes = (int(head),) if int(head) < len(node) else ()
        else:
            # A field name at a list: walk the elements, each with the whole path.
            for item in node:
                _redact_value(item, path)
            return
        for index in indexes:
            if rest:
                _redact_value(node[index], rest)
            else:
                node[index] = None
        return
    if not isinstance(node, dict):
        return
    keys = list(node) if head == "*" else ([head] if head in node else [])
    for key in keys:
        if rest:
            _redact_value(node[key], rest)
        else:
            node[key] = None


def _loads(text: bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson refuses integers beyond 64 bits; the standard library does not.
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise RedactionError(f"body is not valid JSON: {exc}") from None


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Redactor:
    """Blanks configured JSON fields and CSV columns in bodies of the matching media types."""

    def __init__(
        self,
        json_fields: Sequence[str] = (),
        csv_columns: Sequence[int] = (),
        csv_types: Collection[str] = DEFAULT_CSV_TYPES,
        json_types: Collection[str] = DEFAULT_JSON_TYPES,
    ) -> None:
        self._paths = _parse_paths(json_fields)
        self._columns = frozenset(csv_columns)
        self._csv_types = frozenset(csv_types)
        self._json_types = frozenset(json_types)
        self.active = bool(self._paths or self._columns)

    def apply(self, content_type: str, body: bytes) -> bytes:
        """The body with configured fields blanked; unchanged for other media types."""
        if not self.active or not body:
            return body
        encoding = text_encoding(content_type, self._csv_types, self._json_types)
        if self._paths and encoding is Encoding.JSON:
            kind = media_type(content_type)
            if "jsonlines" in kind or "ndjson" in kind:
                return self._redact_json_lines(body)
            return self._redact_json(body)
        if self._columns and encoding is Encoding.CSV:
            return self._redact_csv(body)
        return body

    def _redact_json(self, body: bytes) -> bytes:
        document = _loads(body)
        try:
            for path in self._paths:
                _redact_value(document, path)
            return _dumps(document)
        except RecursionError:
            raise RedactionError("JSON body is nested too deeply to redact") from None

    def _redact_json_lines(self, body: bytes) -> bytes:
        lines = body.split(b"\n")
        return b"\n".join(self._redact_json(line) if line.strip() else line for line in lines)

    def _redact_csv(self, body: bytes) -> bytes:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RedactionError("CSV body is not valid UTF-8") from None
        if '"' in text:
            return self._redact_quoted_csv(text)
        rows = text.split("\n")
        out = []
        for row in rows:
            cr = row.endswith("\r")
            fields = (row[:-1] if cr else row).split(",")
            if row:
                for index in self._columns:
                    if index < len(fields):
                        fields[index] = ""
            out.append(",".join(fields) + ("\r" if cr else ""))
        return "\n".join(out).encode("utf-8")

    def _redact_quoted_csv(self, text: str) -> bytes:
        # Quoted fields may hold commas and newlines: let the csv module find the fields.
        terminator = "\r\n" if "\r\n" in text else "\n"
        output = io.StringIO()
        writer = csv.writer(output, lineterminator=terminator)
        try:
            for fields in csv.reader(io.StringIO(text, newline="")):
                for index in self._columns:
                    if index < len(fields):
                        fields[index] = ""
                writer.writerow(fields)
        except csv.Error as exc:
            raise RedactionError(f"CSV body cannot be parsed: {exc}") from None
        result = output.getvalue()
        if not text.endswith(("\n", "\r")):
            result = result[: -len(terminator)]
        return result.encode("utf-8")
