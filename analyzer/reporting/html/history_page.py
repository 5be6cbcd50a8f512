"""The history page of `infertap-analyzer report`: read the hourly runs, draw, write one file."""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup

from analyzer.reading import storage
from analyzer.reporting.html import history_charts, templates
from analyzer.reporting.html.history_model import HistoryPage, build_history_page
from analyzer.reporting.html.history_sources import read_history

HISTORY_FILE = "history.html"
DRIFT_CHARTS = 20  # drifted features drawn over time, the worst first
METRIC_CHARTS = 16


def render_history(page: HistoryPage) -> str:
    drift = {
        name: Markup(history_charts.drift_lines(name, page.drift[name], page.drift_threshold))
        for name in page.drifted[:DRIFT_CHARTS]
    }
    ordered = sorted(page.quality, key=lambda m: (m not in page.quality_thresholds, m))
    quality = {
        name: Markup(
            history_charts.metric_lines(name, page.quality[name], page.quality_thresholds.get(name))
        )
        for name in ordered[:METRIC_CHARTS]
    }
    status_chart = history_charts.statuses(page.rows, page.missing_hours)
    return templates.render(
        "history.html",
        page=page,
        page_title=page.title,
        status_chart=Markup(status_chart or ""),
        drift_charts=drift,
        quality_charts=quality,
        drift_limit=DRIFT_CHARTS,
        chart_count=len(drift) + len(quality) + (1 if status_chart else 0),
    )


def write_history(
    reports: str,
    endpoint: str,
    variant: str,
    output: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, HistoryPage]:
    """Write `{output}/history.html`; return its URL and the page model (StorageError if not)."""
    page = build_history_page(
        read_history(reports, endpoint, variant, since, until), endpoint, variant
    )
    url = storage.join(output, HISTORY_FILE)
    storage.write_bytes(url, render_history(page).encode("utf-8"))
    return url, page
