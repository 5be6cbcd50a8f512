"""What every monitor's run ends with: `RunResult`, the base of each monitor's result.

A monitor's result (data quality's `reporting.execution.ExecutionResult`, model quality's
`reporting.quality_record.QualityResult`) adds what it measured; the status, the sentences a
user reads, the files written and the window are kept here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED, STOPPED, Status


@dataclass(slots=True)
class RunResult:
    """The outcome of one run of any monitor."""

    status: Status
    message: str = ""
    failure_reason: str | None = None
    stop_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)
    endpoint_name: str = ""
    variant_name: str = ""
    start: datetime | None = None
    end: datetime | None = None
    duration_seconds: float = 0.0
    finished_at: datetime | None = None

    @property
    def exit_code(self) -> int:
        return Status.parse(self.status).exit_code

    @property
    def violation_count(self) -> int:
        """How many violations the run found (a monitor's result counts its own)."""
        return 0

    def end_early(self, status: Status, reason: str) -> None:
        """End as Failed or Stopped for `reason` (what was measured is the caller's to drop)."""
        self.status = status
        if status == STOPPED:
            self.stop_reason = reason
        else:
            self.failure_reason = reason

    def describe(self) -> str:
        """The record's `message`, as SageMaker words it: `<status>: <what happened>`."""
        if self.status == FAILED:
            return f"{FAILED}: {self.failure_reason}"
        if self.status == STOPPED:
            return f"{STOPPED}: {self.stop_reason}"
        if self.violation_count:
            return (
                f"{COMPLETED_WITH_VIOLATIONS}: Job completed successfully with "
                f"{self.violation_count} violations."
            )
        return f"{COMPLETED}: Job completed successfully with no violations."
