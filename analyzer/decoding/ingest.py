"""Capture file bytes -> a DatasetProfile: parse records in batches, decode, profile, count.

The hot path is CSV traffic: a record whose sides are one CSV line each becomes one string
(outputs first, then inputs); batches of such strings are parsed by orjson as one JSON array of
numbers into a float matrix and profiled with `DatasetProfile.update_numeric_matrix` (one KLL
update per column per batch). Whatever does not fit (quoted CSV, empty or non-numeric values,
wrong column counts, JSON payloads, hooks) takes the general path through
`analyzer.decoding.payloads`.
Every record, and everything wrong with one, is counted in one `RunCounts` (analyzer.counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from analyzer.decoding.openai import descriptors
from analyzer.decoding.payloads import DecodeOptions, Decoder
from analyzer.profiling.dataset import DatasetProfile
from sidecar.common.record import CapturedPayload

BATCH_ROWS = 4096
_SECONDS = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A run's [start, end) as `YYYY-MM-DDTHH:MM:SS` texts, to compare with inferenceTime.

    Records are selected by their hour folder, not by this: a record is in the folder of the hour
    it arrived in, so consecutive hourly runs analyse every record exactly once. A record whose
    inferenceTime lies outside the window is still analysed and counted (`outside_window`): a
    sign of a window that is not whole hours, of clock skew, or of files written elsewhere.
    """

    start: str
    end: str

    @classmethod
    def of(cls, start: datetime, end: datetime) -> TimeWindow:
        return cls(start.astimezone(UTC).strftime(_SECONDS), end.astimezone(UTC).strftime(_SECONDS))

    def excludes(self, inference_time: Any) -> bool:
        """True when an ISO 8601 UTC inferenceTime is outside the window (unreadable: False)."""
        if type(inference_time) is not str or inference_time[10:11] != "T":
            return False
        moment = inference_time[:19]
        return not self.start <= moment < self.end


def split_records(data: bytes) -> tuple[list[bytes], bool]:
    """Non-empty lines of a capture file, and whether its last line was cut mid-way.

    A last line without its newline is kept when it is a whole JSON document (a writer that
    omitted the final newline) and reported as truncated otherwise.
    """
    truncated = False
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        data = data[:cut]
        try:
            orjson.loads(tail)
        except orjson.JSONDecodeError:
            truncated = bool(tail.strip())
        else:
            data += tail
    lines = [line for line in data.split(b"\n") if line.strip()]
    return lines, truncated


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
        self._model = options.model
        self._columns = options.columns
        self._monitor = options.monitor
        self._both = options.monitor == "both"
        self._commas = len(options.columns) - 1
        self._batch_rows = batch_rows
        self._fast: dict[int, list[str]] = {}  # first column offset -> CSV strings
        self._general: list[dict[str, Any]] = []

    # ----- records -------------------------------------------------------------------------

    def add_file(self, data: bytes) -> None:
        lines, truncated = split_records(data)
        if truncated:
            self.counts.truncated_files += 1
        loads = orjson.loads
        add = self._add_document
        # One line at a time: parsed records die young, which keeps the allocator's caches warm.
        for line in lines:
            try:
                document = loads(line)
            except orjson.JSONDecodeError:
                self.counts.malformed_lines += 1
                continue
            add(document)

    def _add_document(self, document: Any) -> None:
        capture = document.get("captureData") if type(document) is dict else None
        if type(capture) is not dict:
            self.counts.malformed_lines += 1
            return
        self.counts.records += 1
        metadata = document.get("eventMetadata")
        if type(metadata) is dict:
            # The sidecar's extensions: an error response's body is no prediction, and a
            # body cut short is no whole payload.
            status = metadata.get("status")
            if type(status) is int and status >= 400:
                self.counts.error_responses += 1
                return
            if metadata.get("truncated") is True:
                self.counts.truncated_records += 1
                return
            if self._window is not None and self._window.excludes(metadata.get("inferenceTime")):
                self.counts.outside_window += 1
        endpoint_input = capture.get("endpointInput")
        endpoint_output = capture.get("endpointOutput")
        # The hottest case, inlined: both sides one CSV line each, every column present.
        if (
            self._both
            and type(endpoint_input) is dict
            and type(endpoint_output) is dict
            and endpoint_input.get("encoding") == "CSV"
            and endpoint_output.get("encoding") == "CSV"
            and self.decoder.output_width is not None
        ):
            inp = endpoint_input.get("data")
            out = endpoint_output.get("data")
            if type(inp) is str and type(out) is str:
                text = out + "," + inp
                if text.count(",") == self._commas and "\n" not in text and '"' not in text:
                    buffer = self._fast.setdefault(0, [])
                    buffer.append(text)
                    if len(buffer) >= self._batch_rows:
                        self._flush_fast(0)
                    return
        if self._try_fast(endpoint_input, endpoint_output):
            return
        # OpenAI-compatible exchanges become descriptor features (analyzer.decoding.openai).
        row = descriptors(
            endpoint_input, endpoint_output, metadata if type(metadata) is dict else {}
        )
        if row is not None:
            if self._model is not None and row["model"] != self._model:
                self.counts.other_models += 1
                return
            self._general.append(row)
            if len(self._general) >= self._batch_rows:
                self._flush_general()
            return
        self._add_general(endpoint_input, endpoint_output)

    def _try_fast(self, endpoint_input: Any, endpoint_output: Any) -> bool:
        width = self.decoder.output_width
        if width is None:
            return False
        monitor = self._monitor
        inp = _csv_line(endpoint_input) if monitor != "output" else None
        out = _csv_line(endpoint_output) if monitor != "input" else None
        if inp is None and (monitor != "output" and endpoint_input is not None):
            return False
        if out is None and (monitor != "input" and endpoint_output is not None):
            return False
        total = len(self._columns)
        if inp is not None and out is not None:
            text, offset, expected = out + "," + inp, 0, total
        elif inp is not None:
            text, offset, expected = inp, width, total - width
        elif out is not None:
            text, offset, expected = out, 0, width
        else:
            return False
        if expected <= 0 or text.count(",") != expected - 1:
            return False
        buffer = self._fast.setdefault(offset, [])
        buffer.append(text)
        if len(buffer) >= self._batch_rows:
            self._flush_fast(offset)
        return True

    def _add_general(self, endpoint_input: Any, endpoint_output: Any) -> None:
        try:
            inp = _payload(endpoint_input)
            out = _payload(endpoint_output)
        except ValueError:
            # As for any payload the decoders reject: a decode error, and a record without rows.
            self.counts.decode_errors += 1
            self.counts.empty_records += 1
            return
        rows = self.decoder.rows(inp, out)
        if not rows:
            self.counts.empty_records += 1
            return
        self._general.extend(rows)
        if len(self._general) >= self._batch_rows:
            self._flush_general()

    # ----- batches -------------------------------------------------------------------------

    def finish(self) -> DatasetProfile:
        """Flush what is buffered and return the profile."""
        for offset in list(self._fast):
            self._flush_fast(offset)
        self._flush_general()
        return self.profile

    def _flush_general(self) -> None:
        rows, self._general = self._general, []
        if not rows:
            return
        keys = tuple(rows[0])
        if all(tuple(row) == keys for row in rows):
            # The usual case (every row has the same features): transpose in one go.
            values = zip(*(row.values() for row in rows), strict=True)
            columns = dict(zip(keys, values, strict=True))
        else:
            names: dict[str, None] = {}
            for row in rows:
                names.update(dict.fromkeys(row))
            columns = {name: tuple(row.get(name) for row in rows) for name in names}
        self.profile.update_columns(
            {name: _column_values(values) for name, values in columns.items()}, len(rows)
        )
        self.counts.rows += len(rows)

    def _flush_fast(self, offset: int) -> None:
        rows = self._fast.pop(offset, [])
        if not rows:
            return
        width = rows[0].count(",") + 1
        names = self._columns[offset : offset + width]
        matrix = _number_matrix(rows, width)
        if matrix is None:
            self._flush_rowwise(rows, names)
            return
        self.profile.update_numeric_matrix(names, matrix, integral_mask(rows, matrix))
        self.counts.rows += len(rows)

    def _flush_rowwise(self, rows: list[str], names: Sequence[str]) -> None:
        """A batch with something non-numeric: numeric rows keep the fast path, the others are
        profiled column by column as CSV text (classified as Deequ does)."""
        numeric: list[str] = []
        other: list[str] = []
        for text in rows:
            (numeric if _number_matrix([text], len(names)) is not None else other).append(text)
        if numeric:
            matrix = _number_matrix(numeric, len(names))
            assert matrix is not None
            self.profile.update_numeric_matrix(names, matrix, integral_mask(numeric, matrix))
        if other:
            split = [text.split(",") for text in other]
            if any(" " in text for text in other):
                split = [[value.strip() for value in values] for values in split]
            columns = {
                name: np.array(values, dtype=str)
                for name, values in zip(names, zip(*split, strict=True), strict=True)
            }
            self.profile.update_columns(columns, len(other))
        self.counts.rows += len(rows)


def _column_values(values: tuple[Any, ...]) -> Sequence[Any] | npt.NDArray[Any]:
    """A column of JSON values; all-float or all-int columns as numpy arrays (the fast path)."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        (kind,) = kinds
        if kind is float:
            return np.array(values, dtype=np.float64)
        if kind is int:
            try:
                return np.array(values, dtype=np.int64)
            except OverflowError:
                return values
    return values


def _csv_line(side: Any) -> str | None:
    """The data of a CSV side that is exactly one unquoted line, else None."""
    if type(side) is not dict or side.get("encoding") != "CSV":
        return None
    data = side.get("data")
    if type(data) is not str:
        return None
    if data.endswith("\n"):
        data = data.rstrip("\r\n")
    if "\n" in data or '"' in data or not data:
        return None
    return data


def _payload(side: Any) -> CapturedPayload | None:
    if side is None:
        return None
    if type(side) is not dict or type(side.get("data")) is not str:
        raise ValueError("a capture side without string data")
    return CapturedPayload(
        content_type=str(side.get("observedContentType", "")),
        data=side["data"],
        encoding=str(side.get("encoding", "BASE64")),
    )


def _number_matrix(rows: list[str], width: int) -> npt.NDArray[np.float64] | None:
    """Parse rows of comma-separated JSON numbers into a (rows, width) matrix, or None."""
    joined = ",".join(rows)
    # JSON reads true/false/null as booleans and null; Deequ calls them strings.
    if "t" in joined or "l" in joined:
        return None
    try:
        flat = orjson.loads("[" + joined + "]")
    except orjson.JSONDecodeError:
        return None
    if len(flat) != len(rows) * width:
        return None
    try:
        matrix = np.fromiter(flat, dtype=np.float64, count=len(flat))
    except (TypeError, ValueError):
        return None
    if not np.isfinite(matrix).all():
        return None
    return matrix.reshape(len(rows), width)


def integral_mask(rows: list[str], matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Per value: True where the text was Integral (no '.', no exponent), as Deequ classifies.

    Whole numbers written with a dot ("2.0") are Fractional text; a row whose dot count equals
    its number of non-whole values holds none of them, so only other rows are looked at closely.
    """
    fractional = matrix != np.floor(matrix)
    dots = np.fromiter((text.count(".") for text in rows), dtype=np.int64, count=len(rows))
    exact = dots == fractional.sum(axis=1)
    joined = ",".join(rows)
    if "e" in joined or "E" in joined:
        exponent = np.fromiter(
            ("e" in text or "E" in text for text in rows), dtype=np.bool_, count=len(rows)
        )
        exact &= ~exponent
    mask: npt.NDArray[np.bool_] = ~fractional
    for index in np.flatnonzero(~exact):
        fields = rows[index].split(",")
        mask[index] = [not ("." in f or "e" in f or "E" in f) for f in fields]
    return mask


@dataclass(slots=True)
class PartialProfile:
    """What one process made of its share of the files (picklable, profile as bytes)."""

    profile: bytes
    counts: dict[str, int]  # RunCounts.to_json(), with files_read, bytes and unreadable_files
    output_width: int | None
    unreadable: list[str] = field(default_factory=list)  # "url: reason"


def profile_capture_files(
    urls: Sequence[str],
    options: DecodeOptions,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> PartialProfile:
    """Read and profile capture files; the unit of work of one process (profile as bytes)."""
    profile, part = profile_files_here(urls, options, concurrency, window)
    part.profile = profile.to_bytes()
    return part


def profile_files_here(
    urls: Sequence[str],
    options: DecodeOptions,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> tuple[DatasetProfile, PartialProfile]:
    """Read and profile capture files in this process; the PartialProfile holds no bytes."""
    from analyzer.reading.captures import iter_files

    profiler = CaptureProfiler(options, window=window)
    counts = profiler.counts
    unreadable: list[str] = []
    for item in iter_files(urls, concurrency):
        if item.data is None:
            counts.unreadable_files += 1
            unreadable.append(f"{item.url}: {item.error}")
            continue
        counts.files_read += 1
        counts.bytes += len(item.data)
        profiler.add_file(item.data)
    profile = profiler.finish()
    return profile, PartialProfile(
        profile=b"",
        counts=counts.to_json(),
        output_width=profiler.decoder.output_width,
        unreadable=unreadable,
    )
