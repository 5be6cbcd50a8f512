"""execution.json of a run that failed before it started: its flags could not be read.

A run that is given an --output always leaves an execution.json there, so a scheduler or a person
looking at the folder sees Failed and why, not the previous hour's record or nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.reporting.execution import EXECUTION_FILE
from analyzer.reporting.json_text import pretty_json
from analyzer.results.status import FAILED


def write_failed_execution(
    output: str | None, monitoring_type: str, reason: str, flags: dict[str, Any]
) -> str | None:
    """Write a Failed execution.json under `output`; its URL, or None if there is none."""
    if not output:
        return None
    record = {
        "status": FAILED,
        "message": f"{FAILED}: {reason}",
        "failure_reason": reason,
        "monitoring_type": monitoring_type,
        "endpoint_name": flags.get("endpoint_name"),
        "variant_name": flags.get("variant_name"),
        "options": {name: value for name, value in flags.items() if isinstance(value, str)},
        "output": output,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    url = storage.join(output, EXECUTION_FILE)
    try:
        storage.write_bytes(url, pretty_json(record, non_finite="NaN"))
    except AnalyzerError:
        return None  # the flag error is the one to report; --output may be the bad flag
    return url
