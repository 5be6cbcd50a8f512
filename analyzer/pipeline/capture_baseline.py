"""`baseline --captures`: a baseline from a reference window of captured traffic (DESIGN.md 10).

The window's capture files are read and profiled exactly as a monitoring run reads them (any
payload kind: CSV, JSON shapes, Open Inference Protocol, OpenAI-compatible descriptors), so a
later `run` over the same traffic finds no drift. CSV payloads have no names: without
`--columns` they are named `_c0`, `_c1`, ... (outputs first, then inputs, as `run` lines them up),
their count read from the first CSV record of the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from analyzer.decoding.payloads import DecodeOptions
from analyzer.decoding.records import split_records
from analyzer.engines.local import profile_files
from analyzer.errors import ConfigError
from analyzer.profiling.statistics import Statistics
from analyzer.reading import storage
from analyzer.reading.captures import iter_files, list_window

PROBE_RECORDS = 1000


def profile_capture_window(
    captures: str,
    endpoint: str,
    variant: str,
    start: datetime,
    end: datetime,
    *,
    columns: Sequence[str] | None = None,
    model: str | None = None,
    workers: int = 1,
) -> Statistics:
    """Statistics of the traffic captured in [start, end); ConfigError when there is none."""
    listing = list_window(captures, endpoint, variant, start, end)
    where = storage.join(captures, endpoint, variant)
    if not listing.files:
        raise ConfigError(
            f"no capture files under {where}/ for {start.isoformat()} - {end.isoformat()}; "
            "check --captures, --endpoint-name, --variant-name and the window"
        )
    names = tuple(columns) if columns else probe_columns(listing.files[0].url)
    options = DecodeOptions(columns=names, model=model)
    profiled = profile_files(listing.files, options, workers)
    counts = profiled.counts
    if counts.rows == 0:
        raise ConfigError(
            f"no feature rows in {len(listing.files)} capture files under {where}/ "
            f"({counts.records} records, {counts.decode_errors} decode errors, "
            f"{counts.error_responses} error responses, {counts.truncated_records} truncated)"
        )
    return profiled.profile.to_statistics()


def probe_columns(url: str) -> tuple[str, ...]:
    """`_c0` ... for the CSV values of the file's first CSV record (outputs and inputs)."""
    for item in iter_files([url], 1):
        lines, _ = split_records(item.data or b"")
        for line in lines[:PROBE_RECORDS]:
            width = _csv_width(line)
            if width:
                return tuple(f"_c{index}" for index in range(width))
    return ()


def _csv_width(line: bytes) -> int:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return 0
    capture = record.get("captureData") if isinstance(record, dict) else None
    if not isinstance(capture, dict):
        return 0
    width = 0
    for side in (capture.get("endpointOutput"), capture.get("endpointInput")):
        if isinstance(side, dict) and side.get("encoding") == "CSV":
            data = str(side.get("data", "")).strip().splitlines()
            width += len(data[0].split(",")) if data else 0
    return width
