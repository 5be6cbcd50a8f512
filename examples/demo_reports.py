"""The demo's pages: each run's report.html, and a model's history from hourly runs.

The demo's own traffic lasts a minute, so a history of many hours comes from `report_runs.history`
(real `run`s over generated captures, hour by hour, in the scheduler's layout); then
`infertap-analyzer report` draws them as one page.
"""

from __future__ import annotations

from pathlib import Path

import report_runs
from demo_analysis import AnalyzerFailed, analyzer


def history_page(out: Path, hours: int, features: int) -> Path:
    """Hourly runs of a model that drifts in its last hours, and their history.html."""
    reports = report_runs.history(
        out / "history", features=features, hours=hours, drift_from=hours - 3, empty_hours=(1,)
    )
    pages = out / "history" / "pages"
    args = ["report", "--reports", str(reports), "--endpoint-name", "churn", "--output", str(pages)]
    code = analyzer(args, out / "logs" / "report.log")
    page = pages / "history.html"
    if code != 0 or not page.exists():
        raise AnalyzerFailed(
            f"`analyzer report` exited with {code}; log {out / 'logs' / 'report.log'}"
        )
    return page


def run_pages(monitoring: Path) -> list[Path]:
    """The report.html every monitoring run left, in folder order."""
    return sorted(monitoring.rglob("report.html"))
