"""What a monitoring run leaves: statistics.json, constraint_violations.json, execution.json."""

from __future__ import annotations

import json
from collections.abc import Sequence

from analyzer.checking.checks import Violation
from analyzer.job import MonitoringJob
from analyzer.reading import storage
from analyzer.reporting import baseline_files
from analyzer.reporting.execution import (
    EXECUTION_FILE,
    STATISTICS_FILE,
    VIOLATIONS_FILE,
    ExecutionResult,
)


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
    record = result.to_json(job)
    storage.write_bytes(url, (json.dumps(record, indent=2, allow_nan=False) + "\n").encode())


def violations_to_bytes(violations: Sequence[Violation]) -> bytes:
    """constraint_violations.json exactly as SageMaker's container writes it (Jackson's pretty
    printer: `" : "` separators, `[ {` … `}, {` … `} ]`, two-space indents, `[ ]` when empty)."""
    if not violations:
        return b'{\n  "violations" : [ ]\n}\n'
    entries = []
    for violation in violations:
        fields = ",\n".join(
            f"    {_json_string(key)} : {_json_string(value)}"
            for key, value in violation.to_json().items()
        )
        entries.append("{\n" + fields + "\n  }")
    body = ", ".join(entries)
    return ('{\n  "violations" : [ ' + body + " ]\n}\n").encode("utf-8")


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
