"""report.html of one run: read the run's files, build the page model, draw it, write it.

`write_run_report(output_url)` is the one call a run makes after its JSON files are written; it
never fails the run: a page that cannot be written is logged and counted as a warning.
"""

from __future__ import annotations

import logging
import threading
import time

from markupsafe import Markup

from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.reporting.html import feature_charts, sources, templates
from analyzer.reporting.html.run_model import RunPage, build_run_page

log = logging.getLogger("infertap.analyzer.report")
CHART_BUDGET = 150  # feature charts per page: features with findings get theirs first
# matplotlib is not thread-safe and `schedule` runs endpoints in threads: one page at a time
# (re-entrant: writing a report renders one).
_DRAWING = threading.RLock()


def render_run_report(folder: str, chart_budget: int = CHART_BUDGET) -> str:
    """The HTML page of the run whose files are in `folder` (local or s3://)."""
    return render_run_files(sources.read_run(folder), chart_budget)


def render_run_files(files: sources.RunFiles, chart_budget: int = CHART_BUDGET) -> str:
    """The HTML page of a run's documents, read from its folder or held in memory (`watch`)."""
    with _DRAWING:
        return _render(files, chart_budget)


def _render(files: sources.RunFiles, chart_budget: int) -> str:
    if files.is_model_quality:
        from analyzer.reporting.html.quality_page import render_quality_report

        return render_quality_report(files)
    page = build_run_page(files)
    drawn, left_out = _feature_charts(page, chart_budget)
    overview = page.drift_overview
    drift_chart = feature_charts.drift_overview(overview) if overview else ""
    anchors = {f.name: f"f{i}" for i, f in enumerate([*page.features, *page.clean])}
    return templates.render(
        "run.html",
        page=page,
        page_title=f"{page.status}: {page.title}",
        charts={name: Markup(svg) for name, svg in drawn.items()},
        left_out=left_out,
        chart_budget=chart_budget,
        drift_chart=Markup(drift_chart),
        anchors=anchors,
        chart_count=len(drawn) + (1 if drift_chart else 0),
    )


def _feature_charts(page: RunPage, budget: int) -> tuple[dict[str, str], set[str]]:
    """One chart per feature up to `budget`; the names of those left out."""
    drawn: dict[str, str] = {}
    left_out: set[str] = set()
    canvases: dict[bool, feature_charts.FeatureCanvas] = {}
    for view in [*page.features, *page.clean]:
        svg = feature_charts.feature_chart(canvases, view) if len(drawn) < budget else None
        if svg:
            drawn[view.name] = svg
        elif len(drawn) >= budget and (view.numeric or view.categorical):
            left_out.add(view.name)
    return drawn, left_out


def write_run_report(output_url: str) -> str | None:
    """Write `report.html` beside the run's JSON files; return its URL, None if it failed."""
    started = time.monotonic()
    url = storage.join(output_url, sources.REPORT_FILE)
    try:
        with _DRAWING:
            page = render_run_report(output_url)
        storage.write_bytes(url, page.encode("utf-8"))
    except AnalyzerError as exc:
        log.warning("report.html not written", extra={"report": url, "error": str(exc)})
        return None
    except Exception as exc:  # a page must never turn a finished run into a crash
        log.exception("report.html failed", extra={"report": url, "error": repr(exc)})
        return None
    log.info(
        "report.html written",
        extra={"report": url, "seconds": round(time.monotonic() - started, 3)},
    )
    return url
