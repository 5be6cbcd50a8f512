"""One live evaluation: the window's steps merged and checked against the baseline.

The checks are `run`'s (`pipeline.monitoring.check_profile`); `analyzer.live.decision` keeps the
violations that stay significant over a day of steps. Two scales are checked: the whole
`--window`, and its newest third, where a change that began minutes ago already dominates
(a 1-standard-deviation shift moves the CDF by up to 0.38; diluted in a 15-minute window after
5 minutes it is 0.13, in the newest 5 minutes the whole 0.38). A scale holding fewer than
`--min-records` records is not checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from analyzer.decoding.payloads import DecodeOptions
from analyzer.live.buckets import Bucket, StepBuckets
from analyzer.live.decision import LiveDecision
from analyzer.live.estimates import estimated
from analyzer.pipeline.monitoring import CheckedProfile, check_profile
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reporting.baseline_files import Constraints, Statistics
from analyzer.results.counts import RunCounts
from analyzer.results.violations import Violation

RECENT_SHARE = 3  # the short scale is the newest 1/RECENT_SHARE of the window


@dataclass(frozen=True, slots=True)
class LiveBaseline:
    """The baseline an endpoint is checked against, and how its records are decoded."""

    statistics: Statistics
    constraints: Constraints
    options: DecodeOptions
    decision: LiveDecision
    fingerprint: bytes = b""  # the files' bytes digest: a replaced baseline is noticed


@dataclass(slots=True)
class Merged:
    """Steps merged: one profile, the steps' counts and the output width their records showed."""

    profile: DatasetProfile
    parts: list[RunCounts]
    output_width: int | None

    @property
    def records(self) -> int:
        """Records analysed (parsed and not skipped), as `run` counts them."""
        return sum(c.records - c.skipped_records for c in self.parts)

    @property
    def counts(self) -> RunCounts:
        """The steps' counts summed (for the page; each step adds them up once)."""
        total = RunCounts()
        for part in self.parts:
            total.add(part)
        return total


@dataclass(slots=True)
class LiveEvaluation:
    """What one step found for one endpoint variant."""

    end: int  # the window's end, epoch seconds
    records: int
    evaluated: bool  # False below --min-records: no check ran
    violations: list[Violation] = field(default_factory=list)
    # per feature, the larger of the two scales' drift values as the check compares them
    drift: dict[str, float] = field(default_factory=dict)
    checked: CheckedProfile | None = None  # the whole window's, for the metrics and the page
    estimates: dict[str, float] = field(default_factory=dict)  # CBPE over the window
    merged: Merged | None = None


def merge(buckets: list[Bucket]) -> Merged:
    profile, width = DatasetProfile(), None
    for bucket in buckets:
        profile.absorb(bucket.profile())
        width = width or bucket.output_width
    return Merged(profile, [bucket.counts for bucket in buckets], width)


def recent_span(window: int, step: int) -> int:
    """The short scale: a third of the window, in whole steps, at least one step."""
    return max(step, math.ceil(window / RECENT_SHARE / step) * step)


def evaluate_window(
    buckets: StepBuckets, baseline: LiveBaseline, end: int, window: int, min_records: int
) -> LiveEvaluation:
    """Check the steps in [end - window, end) and their newest third; see the module docstring."""
    whole = merge(buckets.window(end - window, end))
    result = LiveEvaluation(end=end, records=whole.records, evaluated=False, merged=whole)
    if whole.records < min_records:
        return result
    result.evaluated = True
    scores = buckets.window_scores(end - window, end)
    if scores is not None:
        result.estimates = estimated(scores)
    result.checked = check_profile(
        baseline.statistics,
        baseline.constraints,
        whole.profile,
        baseline.options,
        whole.output_width,
        sketches=False,  # the checks read the view's levels; the page asks for the sketches
    )
    result.violations = _kept(result.checked, baseline)
    result.drift = dict(result.checked.evaluation.feature_drift)
    recent = merge(buckets.window(end - recent_span(window, buckets.step), end))
    if recent.records >= min_records and recent.records < whole.records:
        checked = check_profile(
            baseline.statistics,
            baseline.constraints,
            recent.profile,
            baseline.options,
            recent.output_width or whole.output_width,
            sketches=False,
        )
        for name, value in checked.evaluation.feature_drift.items():
            result.drift[name] = max(value, result.drift.get(name, value))
        found = {(v.feature_name, v.constraint_check_type) for v in result.violations}
        result.violations.extend(
            v
            for v in _kept(checked, baseline)
            if (v.feature_name, v.constraint_check_type) not in found
        )
    return result


def _kept(checked: CheckedProfile, baseline: LiveBaseline) -> list[Violation]:
    decision = baseline.decision
    return [
        violation
        for violation in checked.evaluation.violations
        if decision.keep(
            violation,
            baseline.statistics,
            baseline.constraints,
            checked.view.feature(violation.feature_name),
        )
    ]
