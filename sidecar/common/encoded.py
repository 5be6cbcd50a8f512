"""Record lines as the encoder hands them to the spool writer: each line with its partition
hour, and a batch's lines grouped by hour."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class Line(NamedTuple):
    """One record line and the partition hour (Unix seconds) of its inferenceTime."""

    hour: int
    data: bytes


@dataclass(slots=True)
class EncodedHour:
    """`count` record lines of one partition hour, back to back in `data`."""

    hour: datetime
    data: bytes
    count: int
    _ends: list[int] | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def ends(self) -> list[int]:
        """Where each line ends in `data`; found when first asked (a writer that takes the whole
        batch at once never needs them)."""
        if self._ends is None:
            self._ends = list(itertools.accumulate(len(line) for line in self.lines()))
        return self._ends

    def lines(self) -> list[bytes]:
        # JSON escapes line breaks within strings: every b"\n" ends a record.
        return self.data.splitlines(keepends=True)


@dataclass(slots=True)
class EncodedBatch:
    """A batch of exchanges as lines by hour (in arrival order within each hour), and how many
    exchanges gave no line: refused by the body filter, or not encodable at all."""

    hours: list[EncodedHour] = field(default_factory=list)
    rejected: int = 0
    failed: int = 0

    def __len__(self) -> int:
        return sum(len(hour) for hour in self.hours)
