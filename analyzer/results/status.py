"""How a run ended, for every monitor: SageMaker's statuses and the exit codes they give."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A run's status; a str, so it is written to execution.json and compared as its text."""

    COMPLETED = "Completed"
    COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
    FAILED = "Failed"
    STOPPED = "Stopped"  # past --max-runtime, or sent SIGTERM

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]

    @property
    def finished(self) -> bool:
        """Completed, with or without violations: an hour with this status is not run again."""
        return self in FINISHED

    @classmethod
    def parse(cls, text: object) -> Status:
        """A status read back from a file; anything unknown counts as Failed."""
        return cls(text) if isinstance(text, str) and text in STATUSES else cls.FAILED


COMPLETED = Status.COMPLETED
COMPLETED_WITH_VIOLATIONS = Status.COMPLETED_WITH_VIOLATIONS
FAILED = Status.FAILED
STOPPED = Status.STOPPED
STATUSES = tuple(Status)
FINISHED = (COMPLETED, COMPLETED_WITH_VIOLATIONS)

EXIT_COMPLETED = 0
EXIT_VIOLATIONS = 1
EXIT_FAILED = 2
EXIT_STOPPED = 3
_EXIT_CODES = {
    COMPLETED: EXIT_COMPLETED,
    COMPLETED_WITH_VIOLATIONS: EXIT_VIOLATIONS,
    FAILED: EXIT_FAILED,
    STOPPED: EXIT_STOPPED,
}
