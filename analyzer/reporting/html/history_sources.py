"""Find and read the runs of one endpoint/variant in the scheduler's report layout.

`{reports}/{endpoint}/{variant}/YYYY/MM/DD/HH/` holds each hour's execution.json beside its other
files (local folder or s3://). Only the small files are read: execution.json for every hour, and
statistics.json only where execution.json carries no per-feature drift (model quality runs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.reporting.execution import EXECUTION_FILE, STATISTICS_FILE
from analyzer.reporting.html.sources import QUALITY_KEYS, read_json

_HOUR_FOLDER = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/" + re.escape(EXECUTION_FILE) + "$")
READ_CONCURRENCY = 16
CLARIFY_TYPES = ("ModelBias", "ModelExplainability")  # their execution.json holds `metrics`


@dataclass(slots=True)
class HourRun:
    hour: datetime
    folder: str
    execution: dict[str, Any]
    quality: dict[str, Any] | None = None  # the `{problem}_metrics` object of a quality run


@dataclass(slots=True)
class History:
    root: str  # {reports}/{endpoint}/{variant}
    runs: list[HourRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_history(
    reports: str, endpoint: str, variant: str, since: datetime | None, until: datetime | None
) -> History:
    """Every hour folder with an execution.json, oldest first, within [since, until)."""
    history = History(root=storage.join(reports, endpoint, variant))
    prefix = history.root.rstrip("/") + "/"
    try:
        listing = storage.list_objects_sync(prefix)
    except AnalyzerError as exc:
        history.problems.append(f"cannot list {prefix}: {exc}")
        return history
    hours: dict[str, datetime] = {}
    for item in listing:
        match = _HOUR_FOLDER.search(item.url)
        if match:
            year, month, day, hour_of_day = (int(part) for part in match.groups())
            hour = datetime(year, month, day, hour_of_day, tzinfo=UTC)
            if (since is None or hour >= since) and (until is None or hour < until):
                hours[item.url] = hour
    documents = storage.run_sync(_read_all(list(hours), history.problems))
    for url, hour in sorted(hours.items(), key=lambda pair: pair[1]):
        record = documents.get(url)
        if isinstance(record, dict):
            folder = url[: -len(EXECUTION_FILE) - 1]
            history.runs.append(HourRun(hour, folder, record))
    for run in history.runs:
        if "feature_drift" not in run.execution:
            run.quality = _quality_metrics(run.folder, history.problems) or _series(run.execution)
    return history


async def _read_all(urls: list[str], problems: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for url in urls:
        found[url] = None
    try:
        async for url, data in storage.read_many(urls, READ_CONCURRENCY):
            try:
                found[url] = json.loads(data)
            except ValueError as exc:
                problems.append(f"{url} is not JSON: {exc}")
    except AnalyzerError as exc:
        problems.append(f"could not read every execution.json: {exc}")
    return found


def _series(execution: dict[str, Any]) -> dict[str, Any] | None:
    """The headline numbers a bias or attribution run keeps in execution.json's `metrics`."""
    metrics = execution.get("metrics")
    if execution.get("monitoring_type") not in CLARIFY_TYPES or not isinstance(metrics, dict):
        return None
    return {str(name): {"value": value} for name, value in metrics.items()}


def _quality_metrics(folder: str, problems: list[str]) -> dict[str, Any] | None:
    raw = read_json(storage.join(folder, STATISTICS_FILE), STATISTICS_FILE, [], required=False)
    if not isinstance(raw, dict):
        return None
    for key in QUALITY_KEYS:
        if isinstance(raw.get(key), dict):
            metrics: dict[str, Any] = raw[key]
            return metrics
    return None
