"""Captured payloads -> feature rows: CSV, JSON shapes, Open Inference Protocol, a user hook.

A payload side (request or response) decodes to a list of rows; a row is positional (a list of
values, named by the baseline's columns) or named (a dict feature -> value). `Decoder.rows` joins
the two sides of a record: output values take the first baseline columns, input values follow
(SageMaker's layout for CSV), named values keep their names. Bad payloads raise `DecodeError` or
are counted in `DecodeCounts`; nothing here crashes a run.
"""

from __future__ import annotations

import base64
import binascii
import csv
import importlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from analyzer.errors import ConfigError
from sidecar.record import CapturedPayload, media_type

Row = list[Any] | dict[str, Any]
Hook = Callable[[bytes, str, str], Iterable[Any] | None]

MONITOR_SIDES = ("both", "input", "output")
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/x-csv"})
JSON_TYPES = frozenset({"application/json", "application/jsonlines", "application/x-jsonlines"})
INPUT = "INPUT"
OUTPUT = "OUTPUT"


class DecodeError(ValueError):
    """A payload no decoder understood; counted as a decode error."""


class Base64PayloadError(DecodeError):
    """A BASE64 payload whose content type names no format we can read."""


@dataclass(slots=True)
class DecodeCounts:
    """Findings of the decoders, summed over a run."""

    decode_errors: int = 0
    wrong_column_count: int = 0
    base64_payloads: int = 0
    row_count_mismatch: int = 0  # records whose input and output hold different numbers of rows

    def add(self, other: DecodeCounts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How payloads map to the baseline's columns (see the module docstring)."""

    columns: tuple[str, ...]
    monitor: str = "both"
    output_columns: int | None = None
    record_hook: str | None = None

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
    try:
        raw = base64.b64decode(payload.data, validate=True)
        return raw.decode("utf-8"), fmt
    except (binascii.Error, ValueError) as exc:
        raise Base64PayloadError(f"BASE64 payload of type {kind!r} is not UTF-8 text") from exc


def _format_of(kind: str) -> str | None:
    if kind in CSV_TYPES:
        return "csv"
    if kind in JSON_TYPES or kind.endswith("+json"):
        return "json"
    return None


def csv_rows(text: str) -> list[Row]:
    """Rows of CSV text (no header); surrounding spaces of a value are dropped."""
    rows: list[Row] = []
    lines = text.splitlines()
    if any('"' in line for line in lines):
        for values in csv.reader(lines):
            if values:
                rows.append([v.strip() for v in values])
        return rows
    for line in lines:
        if line.strip():
            rows.append([v.strip() for v in line.split(",")])
    return rows


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
                return [_row_of(item) for item in value]
        for key in ("inputs", "outputs"):
            value = document.get(key)
            if isinstance(value, list) and value and all(_is_tensor(t) for t in value):
                return oip_rows(value, columns)
            if isinstance(value, list):
                return [_row_of(item) for item in value]
            if isinstance(value, dict):
                return _columnar_rows(value)
        return [flatten(document)]
    if isinstance(document, list):
        if not document:
            return []
        if all(isinstance(item, dict | list) for item in document):
            return [_row_of(item) for item in document]
        return [_row_of(document)]
    return [[document]]


def _row_of(item: Any) -> Row:
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


@dataclass(slots=True)
class Decoder:
    """Turns the two sides of capture records into named feature rows for one run."""

    options: DecodeOptions
    counts: DecodeCounts = field(default_factory=DecodeCounts)
    output_width: int | None = None  # leading baseline columns that hold outputs, once known
    _hook: Hook | None = None
    _names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.output_width = self.options.output_columns
        self._names = frozenset(self.options.columns)
        if self.options.record_hook:
            self._hook = load_hook(self.options.record_hook)

    def side_rows(self, payload: CapturedPayload | None, mode: str) -> list[Row]:
        """Rows of one side; raises DecodeError when nothing can read it."""
        if payload is None:
            return []
        if self._hook is not None:
            rows = self._hooked(payload, mode)
            if rows is not None:
                return rows
        text, fmt = payload_text(payload)
        if fmt == "csv":
            return csv_rows(text)
        rows = []
        for document in json_documents(text):
            rows.extend(json_rows(document, self._names))
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
        return [_row_of(item) for item in result]

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
