"""Captured payloads -> feature rows: CSV, JSON shapes, Open Inference Protocol, a user hook.

A payload side (request or response) decodes to a list of rows; a row is positional (a list of
values, named by the baseline's columns) or named (a dict feature -> value). `Decoder.rows` joins
the two sides of a record: output values take the first baseline columns, input values follow
(SageMaker's layout for CSV), named values keep their names. JSON shapes are read by
`analyzer.decoding.json_rows`. Bad payloads raise `DecodeError` or are counted in the decoder's
`RunCounts`; nothing here crashes a run.
"""

from __future__ import annotations

import base64
import binascii
import csv
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from analyzer.decoding.json_rows import (
    DecodeError,
    Row,
    TooWideError,
    json_documents,
    json_rows,
    row_of,
)
from analyzer.errors import ConfigError
from analyzer.results.counts import RunCounts
from sidecar.common.record import (
    DEFAULT_CSV_TYPES,
    DEFAULT_JSON_TYPES,
    CapturedPayload,
    captured_payload,
    media_type,
)

Hook = Callable[[bytes, str, str], Iterable[Any] | None]

MONITOR_SIDES = ("both", "input", "output")
# What the reader accepts: the sidecar's defaults plus the aliases other writers use.
CSV_TYPES = frozenset({*DEFAULT_CSV_TYPES, "application/csv", "text/x-csv"})
JSON_TYPES = frozenset({*DEFAULT_JSON_TYPES, "application/x-jsonlines"})
INPUT = "INPUT"
OUTPUT = "OUTPUT"
# Rows may be a little wider than the baseline (a few new features are violations to report);
# beyond twice its columns plus this they are counted, never profiled (each column costs memory).
WIDTH_SLACK = 100


class Base64PayloadError(DecodeError):
    """A BASE64 payload whose content type names no format we can read."""


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How payloads map to the baseline's columns (see the module docstring)."""

    columns: tuple[str, ...]
    monitor: str = "both"
    output_columns: int | None = None
    record_hook: str | None = None
    # OpenAI-compatible traffic of this model only (a per-model breakdown); None: every record.
    model: str | None = None

    def __post_init__(self) -> None:
        if self.monitor not in MONITOR_SIDES:
            raise ConfigError(
                f"--monitor must be one of {', '.join(MONITOR_SIDES)}, got {self.monitor!r}"
            )
        if self.output_columns is not None and not 0 <= self.output_columns <= len(self.columns):
            raise ConfigError(
                f"--output-columns must be between 0 and the baseline's {len(self.columns)} "
                f"columns, got {self.output_columns}"
            )


def load_hook(spec: str) -> Hook:
    """`package.module:function` (or `package.module.function`) -> the callable."""
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"--record-hook {spec!r} must look like package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"--record-hook {spec!r}: cannot import {module_name!r} ({exc}); is it on PYTHONPATH?"
        ) from exc
    hook = getattr(module, attr, None)
    if not callable(hook):
        raise ConfigError(f"--record-hook {spec!r}: {module_name} has no function {attr!r}")
    return hook  # type: ignore[no-any-return]


def payload_text(payload: CapturedPayload) -> tuple[str, str]:
    """`(text, format)` of a payload, format "csv" or "json"; BASE64 decoded by content type."""
    kind = media_type(payload.content_type)
    if payload.encoding == "CSV":
        return payload.data, "csv"
    if payload.encoding == "JSON":
        return payload.data, "json"
    fmt = _format_of(kind)
    if fmt is None:
        raise Base64PayloadError(f"BASE64 payload of type {kind or 'unknown'!r}")
    # A readable type whose data is broken is a decode error, not an unreadable type.
    try:
        raw = base64.b64decode(payload.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"BASE64 payload of type {kind!r} is not valid BASE64: {exc}") from exc
    try:
        return raw.decode("utf-8"), fmt
    except UnicodeDecodeError as exc:
        raise DecodeError(f"BASE64 payload of type {kind!r} is not UTF-8 text") from exc


def _format_of(kind: str) -> str | None:
    if kind in CSV_TYPES:
        return "csv"
    if kind in JSON_TYPES or kind.endswith("+json"):
        return "json"
    return None


def max_values(columns: tuple[str, ...]) -> int:
    """The most values a row may hold before it is too wide to profile (see TooWideError)."""
    return 2 * len(columns) + WIDTH_SLACK


def csv_rows(text: str, limit: int | None = None) -> list[Row]:
    """Rows of CSV text (no header); surrounding spaces of a value are dropped.

    A line of more than `limit` values raises TooWideError; unquoted lines are measured by
    their commas before they are split.
    """
    rows: list[Row] = []
    lines = text.splitlines()
    if any('"' in line for line in lines):
        for values in csv.reader(lines):
            if limit is not None and len(values) > limit:
                raise TooWideError(f"a CSV row of {len(values)} values (at most {limit})")
            if values:
                rows.append([v.strip() for v in values])
        return rows
    for line in lines:
        if limit is not None and line.count(",") >= limit:
            raise TooWideError(f"a CSV row of {line.count(',') + 1} values (at most {limit})")
        if line.strip():
            rows.append([v.strip() for v in line.split(",")])
    return rows


@dataclass(slots=True)
class Decoder:
    """Turns the two sides of capture records into named feature rows for one run."""

    options: DecodeOptions
    counts: RunCounts = field(default_factory=RunCounts)
    output_width: int | None = None  # leading baseline columns that hold outputs, once known
    _hook: Hook | None = None
    _names: frozenset[str] = frozenset()
    _limit: int = 0

    def __post_init__(self) -> None:
        self.output_width = self.options.output_columns
        self._names = frozenset(self.options.columns)
        self._limit = max_values(self.options.columns)
        if self.options.record_hook:
            self._hook = load_hook(self.options.record_hook)

    @property
    def hooked(self) -> bool:
        return self._hook is not None

    def record_rows(self, endpoint_input: Any, endpoint_output: Any) -> list[dict[str, Any]]:
        """Named rows of a capture record's two sides as parsed; a record without any is
        counted in `empty_records` (and a side without string data as a decode error)."""
        rows: list[dict[str, Any]] = []
        try:
            inp, out = captured_payload(endpoint_input), captured_payload(endpoint_output)
        except ValueError:
            self.counts.decode_errors += 1
        else:
            rows = self.rows(inp, out)
        if not rows:
            self.counts.empty_records += 1
        return rows

    def side_rows(self, payload: CapturedPayload | None, mode: str) -> list[Row]:
        """Rows of one side; raises DecodeError when nothing can read it, TooWideError when a
        row holds more values than the baseline could explain."""
        if payload is None:
            return []
        rows = self._hooked(payload, mode) if self._hook is not None else None
        if rows is None:
            text, fmt = payload_text(payload)
            if fmt == "csv":
                return csv_rows(text, self._limit)
            rows = []
            for document in json_documents(text):
                rows.extend(json_rows(document, self._names))
        if any(len(row) > self._limit for row in rows):
            raise TooWideError(f"a row of more than {self._limit} values")
        return rows

    def _hooked(self, payload: CapturedPayload, mode: str) -> list[Row] | None:
        assert self._hook is not None
        try:
            body = payload.body()
        except ValueError as exc:
            raise DecodeError(str(exc)) from exc
        try:
            result = self._hook(body, payload.content_type, mode)
        except Exception as exc:  # a user's function: any failure is a decode error, counted
            raise DecodeError(f"record hook failed: {type(exc).__name__}: {exc}") from exc
        if result is None:
            return None
        return [row_of(item) for item in result]

    def rows(
        self, endpoint_input: CapturedPayload | None, endpoint_output: CapturedPayload | None
    ) -> list[dict[str, Any]]:
        """Named rows of one record; counts what is wrong instead of raising."""
        monitor = self.options.monitor
        inputs = self._safe_side(endpoint_input, INPUT) if monitor != "output" else []
        outputs: list[Row] | None = []
        # Unmonitored outputs still tell how many leading columns they take, until that is known.
        if monitor != "input" or self.output_width is None:
            outputs = self._safe_side(endpoint_output, OUTPUT)
        if outputs is None and monitor == "input":
            outputs = []
        # Half a record would make the other side's features look missing: skip it whole.
        if inputs is None or outputs is None:
            return []
        return self.combine(inputs or [], outputs or [])

    def _safe_side(self, payload: CapturedPayload | None, mode: str) -> list[Row] | None:
        try:
            return self.side_rows(payload, mode)
        except Base64PayloadError:
            self.counts.base64_payloads += 1
        except TooWideError:
            self.counts.wrong_column_count += 1
        except DecodeError:
            self.counts.decode_errors += 1
        return None

    def combine(self, inputs: list[Row], outputs: list[Row]) -> list[dict[str, Any]]:
        """Pair input and output rows and name their values (outputs first)."""
        self._learn_output_width(inputs, outputs)
        single = outputs[0] if len(outputs) == 1 else None
        if isinstance(single, list) and len(inputs) > 1 and len(single) == len(inputs):
            outputs = [[value] for value in single]  # one value per instance, sent as one list
        if inputs and outputs and len(inputs) != len(outputs):
            self.counts.row_count_mismatch += 1
        monitor = self.options.monitor
        use_in = inputs if monitor != "output" else []
        use_out = outputs if monitor != "input" else []
        named: list[dict[str, Any]] = []
        for index in range(max(len(use_in), len(use_out))):
            row: dict[str, Any] = {}
            out_row = use_out[index] if index < len(use_out) else None
            in_row = use_in[index] if index < len(use_in) else None
            positional = 0
            if out_row is not None:
                positional += self._place(row, out_row, 0)
            if in_row is not None:
                positional += self._place(row, in_row, self.output_width or 0)
            if positional and positional != self._expected_width(out_row, in_row):
                self.counts.wrong_column_count += 1
            named.append(row)
        return named

    def _learn_output_width(self, inputs: list[Row], outputs: list[Row]) -> None:
        if self.output_width is not None:
            return
        if outputs:
            first = outputs[0]
            width = len(first) if isinstance(first, list) else 0
            self.output_width = min(width, len(self.options.columns))
        elif inputs and isinstance(inputs[0], list):
            self.output_width = max(0, len(self.options.columns) - len(inputs[0]))

    def _expected_width(self, out_row: Row | None, in_row: Row | None) -> int:
        width = self.output_width or 0
        total = len(self.options.columns)
        expected = 0
        if isinstance(out_row, list):
            expected += width
        if isinstance(in_row, list):
            expected += total - width
        return expected

    def _place(self, row: dict[str, Any], values: Row, offset: int) -> int:
        """Write a side's values into `row`; return how many were positional."""
        if isinstance(values, dict):
            row.update(values)
            return 0
        columns = self.options.columns
        for index, value in enumerate(values, start=offset):
            name = columns[index] if index < len(columns) else f"_c{index}"
            row[name] = value
        return len(values)
