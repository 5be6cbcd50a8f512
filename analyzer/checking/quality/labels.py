"""The labels of a run, held as one compact table: inference id -> label, with duplicates counted.

Memory: one dict entry (the id string and an int) plus 17 bytes of arrays per distinct labelled
id, about 220 bytes for a UUID (bench/label_memory.py); the label files are read a few at a
time. A second label for the same id is a duplicate: equal ones are counted, conflicting ones
counted and the one written last wins (files are ordered by URL, i.e. by hour folder and
time-stamped name; lines by their place in the file), so files read ahead of an earlier one wait
for it.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from analyzer.checking.quality.predictions import Predictor
from analyzer.decoding.records import split_records
from analyzer.reading.captures import FileData, iter_files
from analyzer.reading.ground_truth import LabelError, parse_label
from analyzer.results.problem import LabelValueError
from analyzer.results.quality_counts import QualityCounts
from sidecar.common.layout import hour_from_key

LINE_BITS = 32


@dataclass(slots=True)
class LabelTable:
    """id -> row index; `values[i]` the label's number, `ranks[i]` when it was written."""

    index: dict[str, int] = field(default_factory=dict)
    values: array[float] = field(default_factory=lambda: array("d"))
    ranks: array[int] = field(default_factory=lambda: array("q"))
    matched: bytearray = field(default_factory=bytearray)
    file_hours: list[float] = field(default_factory=list)  # Unix hour of each label file
    next_file: int = 0  # files are absorbed in URL order: the last written label wins

    def written_at(self, row: int) -> float:
        """The Unix time of the hour folder the row's label was written in (NaN unknown)."""
        return self.file_hours[self.ranks[row] >> LINE_BITS]

    def __len__(self) -> int:
        return len(self.values)

    def add(self, event_id: str, value: float, rank: int, counts: QualityCounts) -> None:
        found = self.index.get(event_id)
        if found is None:
            self.index[event_id] = len(self.values)
            self.values.append(value)
            self.ranks.append(rank)
            self.matched.append(0)
            return
        if self.values[found] == value:
            counts.duplicate_labels_same += 1
        else:
            counts.duplicate_labels_conflicting += 1
        if rank > self.ranks[found]:
            self.values[found] = value
            self.ranks[found] = rank

    @property
    def unmatched(self) -> int:
        return len(self.matched) - sum(self.matched)


def read_labels(
    urls: Sequence[str],
    predictor: Predictor,
    counts: QualityCounts,
    concurrency: int = 16,
) -> LabelTable:
    """Read every label file (a few at a time) into a LabelTable; bad lines are counted."""
    ordered = sorted(urls)
    table = LabelTable(file_hours=[hour_seconds(url) for url in ordered])
    order = {url: number for number, url in enumerate(ordered)}
    counts.label_files += len(urls)
    waiting: dict[int, FileData] = {}  # files read ahead of an earlier one still in flight
    for item in iter_files(ordered, concurrency):
        waiting[order[item.url]] = item
        while table.next_file in waiting:
            _absorb(waiting.pop(table.next_file), table, predictor, counts)
            table.next_file += 1
    counts.labels = len(table)
    return table


def _absorb(item: FileData, table: LabelTable, predictor: Predictor, counts: QualityCounts) -> None:
    """Add one file's labels, in line order, after every earlier file's."""
    if item.data is None:
        counts.unreadable_label_files += 1
        return
    lines, truncated = split_records(item.data)
    counts.unreadable_labels += int(truncated)
    base = table.next_file << LINE_BITS
    for number, line in enumerate(lines):
        counts.label_records += 1
        try:
            event_id, raw = parse_label(line)
            value = predictor.label(raw)
        except LabelError:
            counts.unreadable_labels += 1
            continue
        except LabelValueError:
            counts.invalid_labels += 1
            continue
        table.add(event_id, value, base + number, counts)


def hour_seconds(url: str) -> float:
    """Unix time of a file's `YYYY/MM/DD/HH` hour folder (NaN if it has none)."""
    hour = hour_from_key(url)
    return hour.timestamp() if hour is not None else math.nan
