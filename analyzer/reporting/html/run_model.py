"""The page model of one data-quality run: what report.html shows, from the run's typed result.

Status and counts first; violations worst first (a missing column before a type mismatch before
incomplete data before drift, and within drift the largest excess over the threshold first); then
one view per feature with its findings, drift distance against its threshold, completeness and
the data of its chart. Features with findings come first, the others are folded below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from analyzer.reporting.baseline_files import (
    NUMERIC_TYPES,
    STRING,
    FeatureStatistics,
    MonitoringConfig,
)
from analyzer.reporting.execution import ExecutionResult, iso
from analyzer.reporting.html import distributions, templates
from analyzer.reporting.html.sources import RunReport
from analyzer.results import violations as checks

CHECK_RANK = {
    checks.MISSING_COLUMN_CHECK: 0,
    checks.DATA_TYPE_CHECK: 1,
    checks.COMPLETENESS_CHECK: 2,
    checks.BASELINE_DRIFT_CHECK: 3,
    checks.CATEGORICAL_VALUES_CHECK: 4,
    checks.EXTRA_COLUMN_CHECK: 5,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation, with what it measured when the run recorded it."""

    feature: str
    check: str
    description: str
    excess: float = 0.0  # drift distance over its threshold (0 for other checks)


@dataclass(slots=True)
class FeatureView:
    name: str
    baseline_type: str | None
    current_type: str | None
    findings: list[Finding] = field(default_factory=list)
    drift: float | None = None  # the number baseline_drift_check compared (Robust when set)
    p_value: float | None = None  # ChiSquared string features
    threshold: float | None = None
    method: str = ""
    completeness: float | None = None
    baseline_completeness: float | None = None
    required_completeness: float | None = None
    summary: list[tuple[str, str, str]] = field(default_factory=list)  # (stat, baseline, now)
    numeric: distributions.NumericDistribution | None = None
    categorical: distributions.CategoricalDistribution | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return any(f.check == checks.BASELINE_DRIFT_CHECK for f in self.findings)


@dataclass(slots=True)
class RunPage:
    title: str
    status: str
    message: str
    failure_reason: str | None
    facts: list[tuple[str, str]]  # (label, value) shown under the status
    counts: list[tuple[str, str]]
    findings: list[Finding]
    features: list[FeatureView]  # with findings first, worst first
    clean: list[FeatureView]  # no findings: folded
    drift_overview: list[tuple[str, float, float]]  # (feature, distance, threshold), worst first
    problems: list[str]
    warnings: list[str]
    has_statistics: bool = True


def build_run_page(report: RunReport) -> RunPage:
    result = report.result
    config = report.constraints.monitoring_config if report.constraints else None
    config = config or MonitoringConfig()
    # Without this run's statistics (a Failed run) there is nothing to compare per feature.
    statistics = result.statistics if result else None
    views = _feature_views(report, result, config) if result and statistics else {}
    findings = sorted(_findings(result, views), key=_finding_order)
    worst = {f.feature: i for i, f in reversed(list(enumerate(findings)))}
    for finding in findings:
        if finding.feature in views:
            views[finding.feature].findings.append(finding)
    with_findings = sorted(
        (v for v in views.values() if v.findings), key=lambda v: worst.get(v.name, 0)
    )
    return RunPage(
        title=_title(result, report.folder),
        status=str(result.status) if result else "Unknown",
        message=(result.message if result else "") or "execution.json is missing or unreadable",
        failure_reason=result.failure_reason if result else None,
        facts=_facts(result, report),
        counts=_counts(result),
        findings=findings,
        features=with_findings,
        clean=[v for v in views.values() if not v.findings],
        drift_overview=_drift_overview(views.values()),
        problems=list(report.problems),
        warnings=list(result.warnings) if result else [],
        has_statistics=statistics is not None,
    )


def _title(result: ExecutionResult | None, folder: str) -> str:
    if result is None or not result.endpoint_name:
        return f"Monitoring run in {folder}"
    return f"{result.endpoint_name} / {result.variant_name or '?'}"


def _facts(result: ExecutionResult | None, report: RunReport) -> list[tuple[str, str]]:
    start, end = (iso(result.start), iso(result.end)) if result else (None, None)
    return [
        ("window", f"{start or '?'} to {end or '?'}"),
        ("records analyzed", fmt_count(result.records_analyzed if result else None)),
        ("violations", fmt_count(result.violation_count if result else None)),
        ("baseline", report.baseline_url or "not recorded"),
        ("finished", (iso(result.finished_at) if result else None) or "?"),
        ("report folder", report.folder),
    ]


def _counts(result: ExecutionResult | None) -> list[tuple[str, str]]:
    counts = result.counts.to_json() if result else {}
    return [(k.replace("_", " "), fmt_count(v)) for k, v in counts.items() if v]


def _findings(result: ExecutionResult | None, views: dict[str, FeatureView]) -> list[Finding]:
    """The violations found; a drift finding knows how far over its threshold it is."""
    found = []
    for violation in result.violations if result else []:
        feature, check = violation.feature_name, violation.constraint_check_type
        view = views.get(feature)
        excess = 0.0
        if check == checks.BASELINE_DRIFT_CHECK and view and view.drift and view.threshold:
            excess = view.drift - view.threshold
        found.append(Finding(feature, check, violation.description, excess))
    return found


def _finding_order(finding: Finding) -> tuple[int, float, str]:
    return (CHECK_RANK.get(finding.check, len(CHECK_RANK)), -finding.excess, finding.feature)


def _feature_views(
    report: RunReport, result: ExecutionResult, config: MonitoringConfig
) -> dict[str, FeatureView]:
    """One view per feature of the current run, the baseline or a violation, in column order."""
    current = {f.name: f for f in (result.statistics.features if result.statistics else [])}
    baseline = {f.name: f for f in (report.baseline.features if report.baseline else [])}
    constraints = report.constraints
    names = list(baseline) + [n for n in current if n not in baseline]
    names += sorted({v.feature_name for v in result.violations} - set(names))
    views = {}
    for name in names:
        base, cur = baseline.get(name), current.get(name)
        view = _feature_view(name, base, cur, config)
        if (view.baseline_type or view.current_type) in NUMERIC_TYPES:
            view.summary = _numeric_summary(base, cur)
        view.drift = result.feature_drift.get(name)
        view.p_value = result.feature_p_value.get(name)
        constraint = constraints.feature(name) if constraints else None
        view.required_completeness = constraint.completeness if constraint else None
        if report.baseline is None:
            view.notes = [n for n in view.notes if "baseline" not in n]
        views[name] = view
    return views


def _feature_view(
    name: str,
    base: FeatureStatistics | None,
    cur: FeatureStatistics | None,
    config: MonitoringConfig,
) -> FeatureView:
    view = FeatureView(
        name=name,
        baseline_type=base.inferred_type if base else None,
        current_type=cur.inferred_type if cur else None,
        completeness=cur.completeness if cur else None,
        baseline_completeness=base.completeness if base else None,
    )
    known = base or cur
    kind = known.inferred_type if known else None
    if kind in NUMERIC_TYPES:
        view.threshold, view.method = config.comparison_threshold, config.comparison_method
        view.numeric = distributions.numeric_distribution(base, cur)
        if view.numeric and view.numeric.left_out:
            view.notes.append(
                f"{view.numeric.left_out} non-finite sketch values (NaN or ±inf) not drawn"
            )
    elif kind == STRING:
        view.threshold = config.categorical_comparison_threshold
        view.method = config.categorical_drift_method
        view.categorical = distributions.categorical_distribution(base, cur)
        distinct = (base.distinct_count if base else None, cur.distinct_count if cur else None)
        view.summary = [("distinct values", templates.num(distinct[0]), templates.num(distinct[1]))]
    view.notes.extend(_missing_notes(base, cur))
    return view


def _missing_notes(base: FeatureStatistics | None, cur: FeatureStatistics | None) -> list[str]:
    notes = []
    if base is None:
        notes.append("absent from the baseline: nothing to compare it with")
    elif base.num_present == 0:
        notes.append("the baseline has no values for it")
    if cur is None:
        notes.append("absent from this run's data")
    elif cur.num_present == 0:
        notes.append("no values in this run")
    return notes


def _numeric_summary(
    base: FeatureStatistics | None, cur: FeatureStatistics | None
) -> list[tuple[str, str, str]]:
    return [
        (stat, templates.num(getattr(base, stat, None)), templates.num(getattr(cur, stat, None)))
        for stat in ("mean", "std_dev", "min", "max")
    ]


def _drift_overview(views: Any) -> list[tuple[str, float, float]]:
    rows = [
        (v.name, v.drift, v.threshold)
        for v in views
        if v.drift is not None
        and v.threshold is not None
        and math.isfinite(v.drift)
        and v.drift > 0
    ]
    return sorted(rows, key=lambda row: (-(row[1] - row[2]), row[0]))


def fmt_count(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)
