"""Which records a run's window holds: its [start, end) compared with each inferenceTime."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

_SECONDS = "%Y-%m-%dT%H:%M:%S"
# ISO 8601 as SageMaker writes it (Z), with the fractions and offsets other writers use.
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?")


class Placement(Enum):
    """Where a record's inferenceTime puts it relative to the window."""

    INSIDE = "inside"
    OUTSIDE = "outside"
    UNREADABLE = "unreadable"


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

    def place(self, inference_time: Any) -> Placement:
        """Inside or outside [start, end), or UNREADABLE when it is no ISO 8601 time."""
        if not is_inference_time(inference_time):
            return Placement.UNREADABLE
        moment = inference_time[:19]
        return Placement.INSIDE if self.start <= moment < self.end else Placement.OUTSIDE

    def excludes(self, inference_time: Any) -> bool:
        """True when an ISO 8601 UTC inferenceTime is outside the window (unreadable: False)."""
        return self.place(inference_time) is Placement.OUTSIDE


def is_inference_time(value: Any) -> bool:
    """True for an ISO 8601 time such as `2026-11-25T08:24:40Z` (what a window can compare)."""
    return type(value) is str and _ISO_TIME.fullmatch(value) is not None
