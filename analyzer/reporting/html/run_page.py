"""report.html of one run: build the page model from the run's typed result, draw it, write it.

`write_run_report(report)` is the one call a run makes after its JSON files are written, with the
result it holds in memory (nothing is read back); it never fails the run: a page that cannot be
written is logged, and the run adds the reason to its warnings (execution.json and the console).
`sources.read_run(folder)` gives the same input from a run's files.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from markupsafe import Markup

from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.reporting.html import feature_charts, sources, templates
from analyzer.reporting.html.quality_page import render_quality_report
from analyzer.reporting.html.run_model import RunPage, build_run_page

log = logging.getLogger("infertap.analyzer.report")
CHART_BUDGET = 150  # feature charts per page: features with findings get theirs first
# matplotlib is not thread-safe and `schedule` runs endpoints in threads: one page at a time.
_DRAWING = threading.Lock()


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """Where report.html went, or why it was not written."""

    url: str
    problem: str | None = None

    @property
    def warning(self) -> str:
        return f"report.html not written ({self.url}): {self.problem}"


def render_run_report(
    report: sources.RunReport | sources.QualityReport, chart_budget: int = CHART_BUDGET
) -> str:
    """The HTML page of one run, data quality or model quality."""
    if isinstance(report, sources.QualityReport):
        return render_quality_report(report)
    page = build_run_page(report)
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


def render_run_report_locked(report: sources.RunReport) -> str:
    """`render_run_report` from another thread (`watch`'s live page): one drawing at a time."""
    with _DRAWING:
        return render_run_report(report)


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


def write_run_report(report: sources.RunReport | sources.QualityReport) -> PageOutcome:
    """Write `report.html` beside the run's JSON files; say where, or why it was not."""
    started = time.monotonic()
    url = storage.join(report.folder, sources.REPORT_FILE)
    try:
        with _DRAWING:
            page = render_run_report(report)
        storage.write_bytes(url, page.encode("utf-8"))
    except AnalyzerError as exc:
        log.warning("report.html not written", extra={"report": url, "error": str(exc)})
        return PageOutcome(url, str(exc))
    except Exception as exc:  # a page must never turn a finished run into a crash
        log.exception("report.html failed", extra={"report": url, "error": repr(exc)})
        return PageOutcome(url, f"internal error: {type(exc).__name__}: {_first_line(exc)}")
    log.info(
        "report.html written",
        extra={"report": url, "seconds": round(time.monotonic() - started, 3)},
    )
    return PageOutcome(url)


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else "no message"
