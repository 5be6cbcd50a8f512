"""`GET /live/{endpoint}/{variant}`: the current window's report.html, drawn by the page code of
`run` from a result built in memory (at most once per step: the page is kept until the next)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from analyzer.live.evaluation import LiveBaseline, LiveEvaluation
from analyzer.reporting.execution import ExecutionResult, window_text
from analyzer.reporting.html.run_page import render_run_report_locked
from analyzer.reporting.html.sources import RunReport
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED
from analyzer.scheduling.config import EndpointConfig


def live_report(
    endpoint: EndpointConfig, baseline: LiveBaseline, evaluation: LiveEvaluation, window: int
) -> RunReport:
    """What a run of the window would hold: its result, the baseline it was checked against."""
    start = datetime.fromtimestamp(evaluation.end - window, UTC)
    end = datetime.fromtimestamp(evaluation.end, UTC)
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
    merged, checked = evaluation.merged, evaluation.checked
    if merged is not None:
        result.counts = merged.counts
    if checked is None:
        result.end_early(
            FAILED,
            f"{evaluation.records} records in the live window {window_text(start, end)}, "
            "fewer than --min-records: nothing was checked",
        )
    else:
        # The checks ran without the sketches; the page draws them.
        result.statistics = merged.profile.to_statistics() if merged else checked.statistics
        result.set_violations(evaluation.violations)
        result.feature_drift = checked.evaluation.feature_drift
        result.feature_p_value = checked.evaluation.feature_p_value
        result.status = COMPLETED_WITH_VIOLATIONS if evaluation.violations else COMPLETED
    result.message = result.describe()
    return RunReport(
        folder=f"the live window {window_text(start, end)}",
        result=result,
        baseline_url=endpoint.baseline_statistics,
        baseline=baseline.statistics,
        constraints=baseline.constraints,
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
        html = render_run_report_locked(live_report(endpoint, baseline, evaluation, window))
        with self._lock:
            self._pages[key] = (evaluation.end, html)
        return html
