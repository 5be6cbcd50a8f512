"""Capture file bytes -> capture records' two sides, counting lines and records that give none.

Counts kept here (see analyzer.results.counts): truncated_files, malformed_lines, records,
error_responses, truncated_records, outside_window and bad_inference_time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from analyzer.reading.window import Placement, TimeWindow, is_inference_time
from analyzer.results.counts import RunCounts

# (endpointInput, endpointOutput, eventMetadata) as parsed: dicts, or anything else
Sides = tuple[Any, Any, Any]


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


def record_sides(data: bytes, counts: RunCounts, window: TimeWindow | None) -> Iterator[Sides]:
    """The sides of every record of a capture file that is to be analysed; the rest is counted."""
    lines, truncated = split_records(data)
    if truncated:
        counts.truncated_files += 1
    loads = orjson.loads
    times = _TimeChecker(counts, window)
    # One line at a time: parsed records die young, which keeps the allocator's caches warm.
    for line in lines:
        try:
            document = loads(line)
        except orjson.JSONDecodeError:
            counts.malformed_lines += 1
            continue
        capture = document.get("captureData") if type(document) is dict else None
        if type(capture) is not dict:
            counts.malformed_lines += 1
            continue
        counts.records += 1
        metadata = document.get("eventMetadata")
        if type(metadata) is dict:
            # The sidecar's extensions: an error response's body is no prediction, and a
            # body cut short is no whole payload.
            status = metadata.get("status")
            if type(status) is int and status >= 400:
                counts.error_responses += 1
                continue
            if metadata.get("truncated") is True:
                counts.truncated_records += 1
                continue
            moment = metadata.get("inferenceTime")
            if moment != times.last or times.verdict is not Placement.INSIDE:
                times.check(moment)
        yield capture.get("endpointInput"), capture.get("endpointOutput"), metadata


class _TimeChecker:
    """Counts inferenceTimes outside the window or unreadable (records of one second share
    their text, so the last verdict is kept)."""

    def __init__(self, counts: RunCounts, window: TimeWindow | None) -> None:
        self._counts = counts
        self._window = window
        self.last: Any = None  # the last inferenceTime seen that was a string, and its verdict
        self.verdict = Placement.UNREADABLE

    def check(self, moment: Any) -> None:
        if moment != self.last or type(moment) is not str:
            if self._window is not None:
                self.verdict = self._window.place(moment)
            elif is_inference_time(moment):
                self.verdict = Placement.INSIDE
            else:
                self.verdict = Placement.UNREADABLE
            self.last = moment if type(moment) is str else None
        if self.verdict is Placement.OUTSIDE:
            self._counts.outside_window += 1
        elif self.verdict is Placement.UNREADABLE:
            self._counts.bad_inference_time += 1
