"""What a monitoring run read and what was wrong with it: one set of counters, summed across
processes, written to execution.json, and turned into the run's warnings.

Each stage counts its own fields, in one place:
  reading   files, ignored_files (the run's listing); files_read, bytes, unreadable_files
            (engines.local, as files arrive)
  records   truncated_files, malformed_lines, records, error_responses, truncated_records,
            outside_window, bad_inference_time (decoding.records)
  decoding  empty_records, decode_errors, base64_payloads, wrong_column_count,
            row_count_mismatch (decoding.payloads.Decoder)
  profiling rows (engines.profiler, as batches are profiled); non_numeric_values (the run,
            from the profile and the baseline)
Every record parsed is analysed (it gave rows) or skipped for one reason: records ==
analysed + error_responses + truncated_records + empty_records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar, Self


@dataclass(slots=True)
class Counts:
    """The base of every monitor's counters: integer fields, summed across processes, written
    to execution.json, and read out as warnings. A subclass declares its fields and, in
    `WARNINGS`, the sentence each non-zero field becomes (fields without one are not warned of).
    """

    WARNINGS: ClassVar[Mapping[str, str]] = {}

    def add(self, other: Self) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def to_json(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_json(cls, raw: Mapping[str, int]) -> Self:
        """Counts read back from execution.json (absent fields 0, unknown ones ignored)."""
        return cls(**{item.name: int(raw.get(item.name, 0)) for item in fields(cls)})

    def warnings(self) -> list[str]:
        """One line per kind of bad input found, e.g. "3 lines are not capture records"."""
        found = self.to_json()
        return [f"{found[key]} {text}" for key, text in self.WARNINGS.items() if found[key]]


_RUN_WARNINGS = {
    "malformed_lines": "lines are not capture records (skipped)",
    "truncated_files": "files end in a line cut mid-way (that line skipped)",
    "unreadable_files": "capture files could not be read",
    "ignored_files": "files in the hour folders are not capture files (ignored)",
    "decode_errors": "payloads could not be decoded (skipped)",
    "wrong_column_count": "rows have a value count different from the baseline's columns",
    "row_count_mismatch": "records have different numbers of input and output rows",
    "non_numeric_values": "values are not numbers in columns the baseline says are numeric",
    "non_finite_values": "numbers are too large for a double (such as 1e999) and were "
    "profiled as missing values",
    "base64_payloads": "BASE64 payloads have a content type no decoder reads (use --record-hook)",
    "empty_records": "records have nothing to monitor on the chosen side",
    "error_responses": "records are of error responses (HTTP status >= 400; skipped)",
    "truncated_records": "records hold truncated bodies (skipped)",
    "other_models": "records are of other models than --model (skipped)",
    "outside_window": "records analysed have an inferenceTime outside the window "
    "(records are selected by their hour folder)",
    "bad_inference_time": "records analysed have an inferenceTime that is no ISO 8601 time "
    "such as 2026-11-25T08:24:40Z (records are selected by their hour folder)",
}


@dataclass(slots=True)
class RunCounts(Counts):
    """Every bad input is counted here, never fatal (see `warnings` for what each one means)."""

    WARNINGS: ClassVar[Mapping[str, str]] = _RUN_WARNINGS

    files: int = 0
    files_read: int = 0
    unreadable_files: int = 0
    ignored_files: int = 0  # files in the hour folders whose names are not capture files
    bytes: int = 0
    records: int = 0  # capture records parsed
    rows: int = 0  # feature rows profiled (one record may hold several instances)
    malformed_lines: int = 0  # lines that are not capture records
    truncated_files: int = 0  # files whose last line was cut mid-way
    empty_records: int = 0  # records without rows: undecodable, or nothing on the chosen side
    error_responses: int = 0  # exchanges answered with HTTP >= 400 (skipped)
    truncated_records: int = 0  # records the sidecar marked truncated (skipped)
    outside_window: int = 0  # records analysed whose inferenceTime is outside [start, end)
    bad_inference_time: int = 0  # records analysed whose inferenceTime is no ISO 8601 time
    decode_errors: int = 0  # payloads no decoder understood
    wrong_column_count: int = 0  # rows whose value count differs from the baseline's
    row_count_mismatch: int = 0  # records whose input and output hold different row counts
    non_numeric_values: int = 0  # non-numbers in columns the baseline says are numeric
    base64_payloads: int = 0  # BASE64 payloads whose content type names no readable format
    non_finite_values: int = 0  # numbers too large for a double (1e999, inf): profiled as missing
    other_models: int = 0  # OpenAI-compatible records of another model than --model (skipped)

    @property
    def skipped_records(self) -> int:
        """Records that gave no rows to analyse."""
        return (
            self.error_responses + self.truncated_records + self.empty_records + self.other_models
        )
