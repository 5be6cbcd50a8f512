"""How every run ends: whatever its stages raise becomes a status and a reason, never a traceback.

Each kind of run starts from `new_result(Kind, job)` and wraps its stages in
`run_outcome(result, log, what)`: a stop (--max-runtime,
SIGTERM, SIGINT) ends it Stopped, an AnalyzerError or a bug ends it Failed with a reason a user
can act on, and the result's message and duration are set either way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from analyzer.errors import AnalyzerError, RunStopped
from analyzer.job import RunJob
from analyzer.results.outcome import RunResult
from analyzer.results.status import FAILED, STOPPED, Status

INTERRUPTED = "interrupted (SIGINT); the window was not analysed, run it again"
ResultT = TypeVar("ResultT", bound=RunResult)


def new_result(kind: type[ResultT], job: RunJob) -> ResultT:
    """A `kind` result for `job`'s window, Failed until its stages say otherwise."""
    return kind(
        status=FAILED,
        endpoint_name=job.endpoint_name,
        variant_name=job.variant_name,
        start=job.start,
        end=job.end,
    )


@contextlib.contextmanager
def run_outcome(result: RunResult, log: logging.Logger, what: str) -> Iterator[None]:
    """Run the block; end `result` early for what it raised, then describe it."""
    started = time.monotonic()
    ended: tuple[Status, str] | None = None
    try:
        yield
    except RunStopped as exc:
        ended = STOPPED, str(exc)
    except KeyboardInterrupt:  # SIGINT reached a --workers process first: stop, with a record
        ended = STOPPED, INTERRUPTED
    except AnalyzerError as exc:
        ended = FAILED, str(exc)
    except Exception as exc:  # a bug must still end the run with a record, not a traceback
        log.exception(f"{what} failed unexpectedly")
        ended = FAILED, f"internal error: {type(exc).__name__}: {exc}"
    if ended is not None:
        result.end_early(*ended)
    result.message = result.describe()
    result.duration_seconds = time.monotonic() - started


def analyse_and_write(
    result: RunResult,
    log: logging.Logger,
    what: str,
    analyse: Callable[[], None],
    write: Callable[[], None],
    output: str,
) -> None:
    """Run the stages under `run_outcome`, then write the reports; a failed write ends it Failed."""
    with run_outcome(result, log, what):
        analyse()
    try:
        write()
    except AnalyzerError as exc:
        result.end_early(FAILED, f"cannot write the reports under {output}: {exc}")
        result.message = result.describe()
