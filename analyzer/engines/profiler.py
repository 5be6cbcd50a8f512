"""Capture file bytes -> a DatasetProfile: records, decoded in batches, profiled a batch at a time.

Records take the first route that fits: the numeric CSV fast path (`decoding.csv_fast`), the
JSON instances fast path (`decoding.json_fast`), else the general decoder
(`decoding.payloads.Decoder`), whose named rows are batched here. Records and decode problems
are counted by their stages (see analyzer.results.counts); this driver counts the rows it profiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from analyzer.decoding.columns import (
    LONG_VALUE_CHARS,
    Batch,
    Column,
    ColumnBatch,
    NumericBatch,
    has_long_value,
    rows_to_batch,
)
from analyzer.decoding.csv_fast import CsvBatcher
from analyzer.decoding.json_fast import InstanceBatcher
from analyzer.decoding.openai import descriptors
from analyzer.decoding.payloads import DecodeOptions, Decoder, max_values
from analyzer.decoding.records import record_sides
from analyzer.profiling.dataset import ColumnValues, DatasetProfile
from analyzer.profiling.types import TextClasses, classify_one, text_counts
from analyzer.reading.window import TimeWindow

BATCH_ROWS = 4096
_NUMBER_KINDS = frozenset({"Integral", "Fractional"})


class CaptureProfiler:
    """Absorbs capture files of one run into a DatasetProfile."""

    def __init__(
        self,
        options: DecodeOptions,
        batch_rows: int = BATCH_ROWS,
        window: TimeWindow | None = None,
    ) -> None:
        self.decoder = Decoder(options)
        self.profile = DatasetProfile()
        self.counts = self.decoder.counts  # one set of counters for records and payloads
        self._window = window
        self._batch_rows = batch_rows
        self._csv = CsvBatcher(options.columns, options.monitor)
        self._json: InstanceBatcher | None = None
        if options.monitor == "both" and options.columns and not self.decoder.hooked:
            self._json = InstanceBatcher(options.columns[0], max_values(options.columns))
        self._rows: list[dict[str, Any]] = []
        self._model = options.model

    def add_file(self, data: bytes) -> None:
        """Profile the records of one capture file's bytes."""
        json, csv, decoder, limit = self._json, self._csv, self.decoder, self._batch_rows
        csv_took_last = False  # traffic is all of a kind: try first what took the last record
        sides = record_sides(data, self.counts, self._window)
        for endpoint_input, endpoint_output, metadata in sides:
            # The fast paths line columns up by the output width, known after the first record.
            width = decoder.output_width
            if width is not None:
                if (
                    json is not None
                    and not csv_took_last
                    and width == 1
                    and json.offer(endpoint_input, endpoint_output)
                ):
                    if json.size >= limit:
                        self._apply([json.take()])
                    continue
                csv_took_last = csv.offer(endpoint_input, endpoint_output, width)
                if csv_took_last:
                    if csv.last_size >= limit:
                        self._apply(csv.take())
                    continue
            self._add_general(endpoint_input, endpoint_output, metadata)

    def _add_general(self, endpoint_input: Any, endpoint_output: Any, metadata: Any) -> None:
        # OpenAI-compatible exchanges become descriptor features (analyzer.decoding.openai).
        row = descriptors(
            endpoint_input, endpoint_output, metadata if type(metadata) is dict else {}
        )
        if row is not None:
            if self._model is not None and row["model"] != self._model:
                self.counts.other_models += 1
                return
            rows = [row]
        else:
            rows = self.decoder.record_rows(endpoint_input, endpoint_output)
        if not rows:
            return
        if _data_chars(endpoint_input) + _data_chars(endpoint_output) > LONG_VALUE_CHARS:
            # Only a large record can hold a long value: its rows that do are profiled alone.
            alone = [row for row in rows if has_long_value(row)]
            self._apply(_long_text_batch(row) for row in alone)
            rows = [row for row in rows if not has_long_value(row)]
        self._rows.extend(rows)
        if len(self._rows) >= self._batch_rows:
            self._flush_rows()

    def finish(self) -> DatasetProfile:
        """Profile what is buffered and return the profile."""
        self._apply(self._csv.take())
        if self._json is not None:
            self._apply([self._json.take()])
        self._flush_rows()
        return self.profile

    def _flush_rows(self) -> None:
        rows, self._rows = self._rows, []
        if rows:
            self._apply([rows_to_batch(rows)])

    def _apply(self, batches: Iterable[Batch | None]) -> None:
        for batch in batches:
            if batch is None:
                continue
            if isinstance(batch, NumericBatch):
                self.profile.update_numeric_matrix(batch.names, batch.matrix, batch.integral)
                self.counts.rows += len(batch.matrix)
            else:
                columns = _classified(batch.columns) if batch.long_text else batch.columns
                self.profile.update_columns(columns, batch.rows)
                self.counts.rows += batch.rows


def _data_chars(side: Any) -> int:
    data = side.get("data") if type(side) is dict else None
    return len(data) if type(data) is str else 0


def _long_text_batch(row: dict[str, Any]) -> Batch:
    batch = rows_to_batch([row])
    return replace(batch, long_text=True) if isinstance(batch, ColumnBatch) else batch


def _classified(columns: dict[str, Column]) -> dict[str, ColumnValues]:
    """Text columns classified value by value, without padding values to the longest one."""
    classified: dict[str, ColumnValues] = {}
    for name, values in columns.items():
        if not isinstance(values, np.ndarray) and all(type(v) is str for v in values):
            classified[name] = _text_classes(values)
        else:
            classified[name] = values
    return classified


def _text_classes(values: Sequence[str]) -> TextClasses:
    kinds = [classify_one(value) for value in values]
    numbers = [v for v, kind in zip(values, kinds, strict=True) if kind in _NUMBER_KINDS]
    return TextClasses(
        n_missing=kinds.count("Missing"),
        n_integral=kinds.count("Integral"),
        # Deequ allows one space after the sign ("- 5"), which float() does not.
        numbers=np.array([float(v.replace(" ", "")) for v in numbers], dtype=np.float64),
        strings=np.array([v for v, kind in zip(values, kinds, strict=True) if kind == "String"]),
        number_text_counts=text_counts(np.array(numbers, dtype=str)),
    )
