"""What a monitoring run leaves: statistics.json, constraint_violations.json, execution.json."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from analyzer.checking.checks import CHECK_TYPES, violations_to_bytes
from analyzer.reading import storage
from analyzer.reporting import schema

if TYPE_CHECKING:
    from analyzer.reporting.execution import ExecutionResult, MonitoringJob

STATISTICS_FILE = "statistics.json"
VIOLATIONS_FILE = "constraint_violations.json"
EXECUTION_FILE = "execution.json"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_text(start: datetime, end: datetime) -> str:
    """`2026-11-25T08:00Z–09:00Z` (the end's date is shown when it differs)."""  # noqa: RUF002
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    end_text = f"{end:%H:%MZ}" if end.date() == start.date() else f"{end:%Y-%m-%dT%H:%MZ}"
    return f"{start:%Y-%m-%dT%H:%MZ}–{end_text}"  # noqa: RUF001


def execution_record(result: ExecutionResult, job: MonitoringJob) -> dict[str, Any]:
    """execution.json: the status, why, what was read and what was found."""
    by_check = Counter(v.constraint_check_type for v in result.violations)
    return {
        "status": result.status,
        "message": result.message,
        "failure_reason": result.failure_reason,
        "endpoint_name": job.endpoint_name,
        "variant_name": job.variant_name,
        "window": {"start": iso(job.start), "end": iso(job.end)},
        "captures": job.captures,
        "baseline_statistics": job.baseline_statistics,
        "baseline_constraints": job.baseline_constraints,
        "output": job.output,
        "options": {
            "monitor": job.monitor,
            "output_columns": job.output_columns,
            "record_hook": job.record_hook,
            "workers": job.workers,
        },
        "records_analyzed": result.records_analyzed,
        "counts": result.counts.to_json(),
        "violations": len(result.violations),
        "violations_by_check": {check: by_check.get(check, 0) for check in CHECK_TYPES},
        "feature_drift": result.feature_drift,
        "feature_drift_p_value": result.feature_p_value,
        "warnings": result.warnings,
        "output_files": result.output_files,
        "finished_at": iso(datetime.now(UTC)),
        "duration_seconds": round(result.duration_seconds, 3),
    }


def write_reports(result: ExecutionResult, job: MonitoringJob) -> None:
    """Write the statistics and violations (when the run got that far), then execution.json.

    The URLs written are appended to `result.output_files` as they succeed; a StorageError
    propagates to the caller, which turns it into a Failed run.
    """
    if result.statistics is not None:
        url = storage.join(job.output, STATISTICS_FILE)
        storage.write_bytes(url, schema.to_bytes(result.statistics))
        result.output_files.append(url)
        url = storage.join(job.output, VIOLATIONS_FILE)
        storage.write_bytes(url, violations_to_bytes(result.violations))
        result.output_files.append(url)
    url = storage.join(job.output, EXECUTION_FILE)
    result.output_files.append(url)
    record = execution_record(result, job)
    storage.write_bytes(url, (json.dumps(record, indent=2, allow_nan=False) + "\n").encode())
