"""When a monitoring run stops early: its --max-runtime deadline, or a stop asked for (SIGTERM).

A run checks its `StopToken` between stages and between chunks of capture files, so a stop takes
effect within one chunk (see analyzer.pipeline.window); the run then ends Stopped with a record.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from analyzer.errors import ConfigError, RunStopped

Clock = Callable[[], float]


class StopToken:
    """A run's deadline and stop request; `check` raises RunStopped once either is due.

    `request` may be called from a signal handler or another thread (it only sets a field).
    """

    def __init__(self, max_runtime: float, clock: Clock = time.monotonic) -> None:
        if not max_runtime > 0:
            raise ConfigError(
                f"--max-runtime must be a positive number of seconds, got {max_runtime}"
            )
        self.max_runtime = max_runtime
        self._clock = clock
        self._started = clock()
        self._requested: str | None = None

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def request(self, reason: str) -> None:
        """Ask the run to stop at its next check, e.g. "SIGTERM received"."""
        if self._requested is None:
            self._requested = reason

    def check(self, progress: str) -> None:
        """Raise RunStopped if the run should stop; `progress` says how far it got."""
        if self._requested is not None:
            raise RunStopped(
                f"{self._requested} after {self.elapsed:.1f} s, {progress}; "
                "the window was not analysed, run it again"
            )
        if self.elapsed > self.max_runtime:
            raise RunStopped(
                f"the run passed --max-runtime ({self.max_runtime:g} s) after "
                f"{self.elapsed:.1f} s, {progress}; raise --max-runtime "
                "(INFERTAP_MAX_RUNTIME, or max_runtime in the schedule file) or add --workers"
            )
