"""One endpoint's records profiled into steps by inferenceTime, and into hours for the reports.

A capture file's records are split by the step their `inferenceTime` falls in; each step keeps a
`CaptureProfiler` (mergeable profiles, the same decoding and counting as `run`). Buckets are
keyed by (hour folder, step), so the live window merges steps and an hour's report merges what
its folder held, exactly the records `run` would read for it. A step leaving the window is folded
into its hour's profile (when hours are reported), so memory holds the window's steps and one
profile per open hour. Records older than the window (late), in the future or without a readable
time go to their hour only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analyzer.checking.quality.predictions import Predictor
from analyzer.decoding.payloads import DecodeOptions
from analyzer.decoding.records import split_records
from analyzer.engines.profiler import CaptureProfiler
from analyzer.live.estimates import ScoreSums, score_lines
from analyzer.live.timeline import epoch_of, step_start
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reading.window import TimeWindow
from analyzer.results.counts import RunCounts

HOUR_SECONDS = 3600
_TIME_FIELD = re.compile(rb'"inferenceTime":"([^"]{0,40})"')
# Records ahead of the clock by more than this are "future": they never hold the window open.
FUTURE_SLACK_SECONDS = 120


class Bucket:
    """The profile of the records of one (hour folder, step)."""

    __slots__ = ("profiler",)

    def __init__(self, options: DecodeOptions, hour: int) -> None:
        window = TimeWindow.of(*_hour_bounds(hour))
        self.profiler = CaptureProfiler(options, window=window)

    def add(self, data: bytes) -> None:
        self.profiler.add_file(data)

    def profile(self) -> DatasetProfile:
        """The profile so far (buffered rows are profiled first; adding may go on)."""
        return self.profiler.finish()

    @property
    def counts(self) -> RunCounts:
        return self.profiler.counts

    @property
    def output_width(self) -> int | None:
        return self.profiler.decoder.output_width


@dataclass(slots=True)
class HourParts:
    """An open hour's profile: steps folded in as they leave the window, plus late records."""

    profile: DatasetProfile = field(default_factory=DatasetProfile)
    counts: RunCounts = field(default_factory=RunCounts)
    output_width: int | None = None

    def absorb(self, bucket: Bucket) -> None:
        self.profile.absorb(bucket.profile())
        self.counts.add(bucket.counts)
        self.output_width = self.output_width or bucket.output_width


@dataclass(slots=True)
class FileOutcome:
    """What one file brought: records by where they went, and the newest inferenceTime."""

    records: int = 0
    late: int = 0
    future: int = 0
    untimed: int = 0
    newest: int | None = None


class StepBuckets:
    """Profiles of one endpoint variant by (hour, step); see the module docstring."""

    def __init__(
        self,
        options: DecodeOptions,
        step: int,
        keep_hours: bool,
        predictor: Predictor | None = None,
    ) -> None:
        self.options = options
        self.predictor = predictor  # binary model quality with scores: CBPE sums per step
        self.scores: dict[tuple[int, int], ScoreSums] = {}
        self.step = step
        self.keep_hours = keep_hours
        self.steps: dict[tuple[int, int], Bucket] = {}
        self.hours: dict[int, HourParts] = {}
        self.closed_before = 0  # hours before this one are reported: late records are counted only

    def add_file(self, hour: int, data: bytes, window_start: int, now: float) -> FileOutcome:
        """Profile one capture file of the folder of `hour` (epoch seconds)."""
        parts = self._hour(hour)
        if parts is not None:
            parts.counts.files += 1
            parts.counts.files_read += 1
            parts.counts.bytes += len(data)
        whole = self._whole_file(data, window_start, now + FUTURE_SLACK_SECONDS)
        if whole is not None:
            self._bucket(hour, whole[0]).add(data)
            self._score(hour, whole[0], data.split(b"\n")[:-1])
            return whole[1]
        lines, truncated = split_records(data)
        if parts is not None:
            parts.counts.truncated_files += int(truncated)
        outcome = FileOutcome(records=len(lines))
        groups = self._group(lines, window_start, now + FUTURE_SLACK_SECONDS, outcome)
        for key, group in groups.items():
            chunk = b"\n".join(group) + b"\n"
            if key is not None:
                self._bucket(hour, key).add(chunk)
                self._score(hour, key, group)
            elif parts is not None:
                aside = Bucket(self.options, hour)
                aside.add(chunk)
                parts.absorb(aside)
        return outcome

    def _score(self, hour: int, step: int, lines: list[bytes]) -> None:
        if self.predictor is not None:
            sums = self.scores.setdefault((hour, step), ScoreSums())
            score_lines(self.predictor, lines, sums)

    def window_scores(self, start: int, end: int) -> ScoreSums | None:
        """The CBPE sums of the steps in [start, end); None without a score to read."""
        if self.predictor is None:
            return None
        total = ScoreSums()
        for (_, step), sums in self.scores.items():
            if start <= step < end:
                total.add(sums)
        return total

    def _bucket(self, hour: int, step: int) -> Bucket:
        bucket = self.steps.get((hour, step))
        if bucket is None:
            bucket = self.steps[(hour, step)] = Bucket(self.options, hour)
        return bucket

    def _whole_file(
        self, data: bytes, window_start: int, horizon: float
    ) -> tuple[int, FileOutcome] | None:
        """The usual file (whole lines, every record in one step the window takes): its step,
        found without splitting the file into lines. None for any other file."""
        if not data.endswith(b"\n"):
            return None
        found = _TIME_FIELD.findall(data)
        records = data.count(b"\n")
        times = set(found)
        if len(times) > 64 or records != len(found):
            return None
        outcome = FileOutcome(records=records)
        steps = {self._place(text, window_start, horizon, outcome) for text in times}
        if len(steps) != 1 or None in steps:
            return None
        step = steps.pop()
        assert step is not None
        return step, outcome

    def _group(
        self, lines: list[bytes], window_start: int, horizon: float, outcome: FileOutcome
    ) -> dict[int | None, list[bytes]]:
        """Lines by step; None for those the window does not take (late, future, no time)."""
        groups: dict[int | None, list[bytes]] = {}
        seen: dict[bytes, int | None] = {}
        for line in lines:
            found = _TIME_FIELD.search(line)
            text = found.group(1) if found is not None else b""
            if text in seen:
                key = seen[text]
            else:
                key = seen[text] = self._place(text, window_start, horizon, outcome)
            if key is not None:
                groups.setdefault(key, []).append(line)
                continue
            groups.setdefault(None, []).append(line)
            moment = epoch_of(text)
            if moment is None:
                outcome.untimed += 1
            elif moment > horizon:
                outcome.future += 1
            else:
                outcome.late += 1
        return groups

    def _place(
        self, text: bytes, window_start: int, horizon: float, outcome: FileOutcome
    ) -> int | None:
        moment = epoch_of(text)
        if moment is None or moment > horizon or moment < window_start:
            return None
        if outcome.newest is None or moment > outcome.newest:
            outcome.newest = moment
        return step_start(moment, self.step)

    def window(self, start: int, end: int) -> list[Bucket]:
        """The buckets of the steps in [start, end)."""
        return [b for (_, step), b in self.steps.items() if start <= step < end]

    def retire(self, window_start: int) -> None:
        """Fold the steps before `window_start` into their hours (or drop them)."""
        for key in [k for k in self.scores if k[1] < window_start]:
            del self.scores[key]
        for key in [k for k in self.steps if k[1] < window_start]:
            bucket = self.steps.pop(key)
            parts = self._hour(key[0])
            if parts is not None:
                parts.absorb(bucket)

    def hour_parts(self, hour: int) -> HourParts | None:
        """The hour's whole profile (its steps still in the window folded in); the hour is
        closed from now on."""
        for key in [k for k in self.steps if k[0] == hour]:
            parts = self._hour(hour)
            if parts is not None:
                parts.absorb(self.steps[key])  # still in the window: it stays there too
        parts = self.hours.pop(hour, None)
        self.closed_before = max(self.closed_before, hour + HOUR_SECONDS)
        for earlier in [h for h in self.hours if h < self.closed_before]:
            del self.hours[earlier]
        return parts

    def _hour(self, hour: int) -> HourParts | None:
        if not self.keep_hours or hour < self.closed_before:
            return None
        parts = self.hours.get(hour)
        if parts is None:
            parts = self.hours[hour] = HourParts()
        return parts


def _hour_bounds(hour: int) -> tuple[datetime, datetime]:
    return datetime.fromtimestamp(hour, UTC), datetime.fromtimestamp(hour + HOUR_SECONDS, UTC)
