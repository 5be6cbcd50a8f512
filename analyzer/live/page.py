"""`GET /live/{endpoint}/{variant}`: the current window's report.html, drawn from the evaluation
in memory by the page code of `run` (at most once per step: the page is kept until the next)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from analyzer.live.evaluation import LiveBaseline, LiveEvaluation
from analyzer.live.settings import endpoint_job
from analyzer.reporting.execution import (
    COMPLETED,
    COMPLETED_WITH_VIOLATIONS,
    FAILED,
    ExecutionResult,
    window_text,
)
from analyzer.reporting.html.run_page import render_run_files
from analyzer.reporting.html.sources import RunFiles
from analyzer.scheduling.config import EndpointConfig


def live_files(
    endpoint: EndpointConfig, baseline: LiveBaseline, evaluation: LiveEvaluation, window: int
) -> RunFiles:
    """The documents a run of the window would have written, built in memory."""
    start = datetime.fromtimestamp(evaluation.end - window, UTC)
    end = datetime.fromtimestamp(evaluation.end, UTC)
    job = endpoint_job(endpoint, start, end)
    result = ExecutionResult(
        status=COMPLETED,
        message="",
        endpoint_name=endpoint.name,
        variant_name=endpoint.variant,
        start=start,
        end=end,
        records_analyzed=evaluation.records,
        finished_at=end,
    )
    checked = evaluation.checked
    if evaluation.merged is not None:
        result.counts = evaluation.merged.counts
    if checked is None:
        result.status = FAILED
        result.failure_reason = (
            f"{evaluation.records} records in the live window {window_text(start, end)}, "
            "fewer than --min-records: nothing was checked"
        )
    else:
        statistics = evaluation.merged.profile.to_statistics() if evaluation.merged else None
        result.statistics = statistics or checked.statistics
        result.set_violations(evaluation.violations)
        result.feature_drift = checked.evaluation.feature_drift
        result.feature_p_value = checked.evaluation.feature_p_value
        result.status = COMPLETED_WITH_VIOLATIONS if evaluation.violations else COMPLETED
    result.message = result.describe()
    return RunFiles(
        folder=f"the live window {window_text(start, end)}",
        execution=result.to_json(job),
        statistics_json=result.statistics.to_json() if result.statistics else None,
        violations=[v.to_json() for v in evaluation.violations],
        statistics=result.statistics,
        baseline_statistics=baseline.statistics,
        baseline_statistics_json=baseline.statistics.to_json(),
        baseline_constraints=baseline.constraints,
    )


class LivePages:
    """The last page drawn per endpoint variant, redrawn when a newer evaluation exists."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, str], tuple[int, str]] = {}

    def page(
        self,
        endpoint: EndpointConfig,
        baseline: LiveBaseline,
        evaluation: LiveEvaluation,
        window: int,
    ) -> str:
        key = (endpoint.name, endpoint.variant)
        with self._lock:
            kept = self._pages.get(key)
            if kept is not None and kept[0] == evaluation.end:
                return kept[1]
        html = render_run_files(live_files(endpoint, baseline, evaluation, window))
        with self._lock:
            self._pages[key] = (evaluation.end, html)
        return html
