"""report.html of a model-quality run: metrics against thresholds, confusion matrix, curves."""

from __future__ import annotations

from markupsafe import Markup

from analyzer.reporting.html import quality_charts, templates
from analyzer.reporting.html.quality_model import build_quality_page
from analyzer.reporting.html.sources import QualityReport


def render_quality_report(report: QualityReport) -> str:
    page = build_quality_page(report)
    drawn = {
        "metrics": quality_charts.metrics_against_thresholds(page.metrics),
        "confusion": quality_charts.confusion_matrix(page.labels, page.matrix),
        "roc": quality_charts.curve_chart(
            page.roc, "false positive rate", "true positive rate", diagonal=True
        ),
        "pr": quality_charts.curve_chart(page.pr, "recall", "precision", diagonal=False),
        "estimates": quality_charts.estimates_chart(page.estimates),
    }
    # Every name stays, empty when not drawn: multiclass has no curves, regression no matrix.
    charts = {name: Markup(svg or "") for name, svg in drawn.items()}
    return templates.render(
        "quality.html",
        page=page,
        page_title=f"{page.status}: {page.title}",
        charts=charts,
        chart_count=sum(1 for svg in drawn.values() if svg),
    )
