"""The page model of a model's history: status per hour, drift per feature, quality metrics.

Hours between the first and last run that have no execution.json are listed as missing (the
scheduler did not run them, or they have not been analysed yet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.reading import storage
from analyzer.reporting.html.history_sources import History, HourRun
from analyzer.reporting.html.quality_model import TWIN, number
from analyzer.reporting.html.sources import REPORT_FILE, read_json

HOUR = timedelta(hours=1)
Series = list[tuple[datetime, float]]


@dataclass(frozen=True, slots=True)
class HourRow:
    hour: datetime
    status: str
    records: Any
    violations: Any
    reason: str
    report: str  # report.html of that hour


@dataclass(slots=True)
class HistoryPage:
    title: str
    rows: list[HourRow]
    missing_hours: list[datetime]
    drift: dict[str, Series] = field(default_factory=dict)  # feature -> distance per hour
    drift_threshold: float | None = None
    drifted: list[str] = field(default_factory=list)  # ever over the threshold, worst first
    quality: dict[str, Series] = field(default_factory=dict)  # metric -> value per hour
    quality_thresholds: dict[str, tuple[float, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def build_history_page(history: History, endpoint: str, variant: str) -> HistoryPage:
    page = HistoryPage(
        title=f"{endpoint} / {variant}: history",
        rows=[_row(run) for run in history.runs],
        missing_hours=_missing_hours([run.hour for run in history.runs]),
        problems=list(history.problems),
    )
    if not history.runs:
        page.problems.append(f"no runs (no execution.json) under {history.root}")
    for run in history.runs:
        for feature, distance in _numbers(run.execution.get("feature_drift")).items():
            page.drift.setdefault(feature, []).append((run.hour, distance))
        if run.quality:
            for metric, raw in run.quality.items():
                value = number(raw)
                if value is not None and not metric.endswith(TWIN) and isinstance(raw, dict):
                    page.quality.setdefault(metric, []).append((run.hour, value))
    _thresholds(page, history)
    page.drifted = _drifted(page.drift, page.drift_threshold)
    return page


def _row(run: HourRun) -> HourRow:
    execution = run.execution
    return HourRow(
        hour=run.hour,
        status=str(execution.get("status") or "Unknown"),
        records=execution.get("records_analyzed", "-"),
        violations=execution.get("violations", "-"),
        reason=str(execution.get("failure_reason") or ""),
        report=_link(run.folder),
    )


def _link(folder: str) -> str:
    """report.html of a run folder as a link a browser can follow (file:// for local folders)."""
    url = storage.join(folder, REPORT_FILE)
    return url if "://" in url else Path(url).resolve().as_uri()


def _missing_hours(hours: list[datetime]) -> list[datetime]:
    if not hours:
        return []
    present, missing = set(hours), []
    hour = hours[0]
    while hour < hours[-1]:
        if hour not in present:
            missing.append(hour)
        hour += HOUR
    return missing


def _thresholds(page: HistoryPage, history: History) -> None:
    """From the newest run's baseline constraints (the thresholds in force now)."""
    newest = history.runs[-1].execution if history.runs else {}
    url = newest.get("baseline_constraints")
    if not isinstance(url, str) or not url:
        return
    raw = read_json(url, "the baseline constraints", page.problems)
    if not isinstance(raw, dict):
        return
    config = raw.get("monitoring_config") or {}
    distribution = config.get("distribution_constraints") or {}
    if page.drift:
        page.drift_threshold = number(distribution.get("comparison_threshold", 0.1))
    for key, section in raw.items():
        if key.endswith("_constraints") and isinstance(section, dict):
            for metric, constraint in section.items():
                threshold = number((constraint or {}).get("threshold"))
                if threshold is not None:
                    operator = str(constraint.get("comparison_operator", ""))
                    page.quality_thresholds[metric] = (threshold, operator)


def _drifted(drift: dict[str, Series], threshold: float | None) -> list[str]:
    """Features ever over the threshold, the largest peak first."""
    if threshold is None:
        return []
    peaks = {name: max(d for _, d in series) for name, series in drift.items() if series}
    over = [name for name, peak in peaks.items() if peak > threshold]
    return sorted(over, key=lambda name: (-peaks[name], name))


def _numbers(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        return {}
    out = {}
    for key, value in raw.items():
        parsed = number(value)
        if parsed is not None and math.isfinite(parsed):
            out[str(key)] = parsed
    return out
