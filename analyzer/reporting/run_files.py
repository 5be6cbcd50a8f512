"""What a monitoring run leaves: statistics.json, constraint_violations.json, execution.json."""

from __future__ import annotations

from analyzer.job import MonitoringJob
from analyzer.reading import storage
from analyzer.reporting import baseline_files
from analyzer.reporting.execution import (
    EXECUTION_FILE,
    STATISTICS_FILE,
    VIOLATIONS_FILE,
    ExecutionResult,
)
from analyzer.reporting.json_text import pretty_json
from analyzer.reporting.violations_file import violations_to_bytes


def write_reports(result: ExecutionResult, job: MonitoringJob) -> None:
    """Write the statistics and violations (when the run got that far), then execution.json.

    The URLs written are appended to `result.output_files` as they succeed; a StorageError
    propagates to the caller, which turns it into a Failed run.
    """
    if result.statistics is not None:
        url = storage.join(job.output, STATISTICS_FILE)
        storage.write_bytes(url, baseline_files.to_bytes(result.statistics))
        result.output_files.append(url)
        url = storage.join(job.output, VIOLATIONS_FILE)
        storage.write_bytes(url, violations_to_bytes(result.violations))
        result.output_files.append(url)
    write_execution(result, job)


def write_execution(result: ExecutionResult, job: MonitoringJob) -> None:
    """execution.json alone (a run that failed while writing its other reports)."""
    url = storage.join(job.output, EXECUTION_FILE)
    if url not in result.output_files:
        result.output_files.append(url)
    storage.write_bytes(url, pretty_json(result.to_json(job)))
