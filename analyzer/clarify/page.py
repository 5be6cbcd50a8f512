"""report.html of a bias or feature attribution run, from the run's in-memory result and its
baseline: bias metrics per facet against the baseline's, the feature ranking baseline vs now.

Writing it never fails the run: a page that cannot be written is logged and left out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from analyzer.clarify import attribution
from analyzer.clarify.config import AnalysisConfig
from analyzer.clarify.drift import keyed
from analyzer.clarify.record import BIAS, ClarifyResult
from analyzer.reading import storage
from analyzer.reporting.html import templates

log = logging.getLogger("infertap.analyzer.report")
REPORT_FILE = "report.html"
STAGES = (
    ("pre_training_bias_metrics", "pre-training"),
    ("post_training_bias_metrics", "post-training"),
)


@dataclass(frozen=True, slots=True)
class BiasRow:
    stage: str
    facet: str
    facet_value: str
    metric: str
    value: float
    baseline: float | None
    worse: bool


@dataclass(frozen=True, slots=True)
class FeatureRow:
    name: str
    value: float
    baseline: float | None
    rank: int
    baseline_rank: int | None


@dataclass(slots=True)
class ClarifyPage:
    title: str
    status: str
    message: str
    failure_reason: str | None
    facts: list[tuple[str, str]] = field(default_factory=list)
    violations: list[dict[str, str]] = field(default_factory=list)
    bias: list[BiasRow] = field(default_factory=list)
    features: list[FeatureRow] = field(default_factory=list)
    ndcg: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def build_page(
    result: ClarifyResult,
    baseline: dict[str, Any] | None,
    config: AnalysisConfig | None,
    title: str,
) -> ClarifyPage:
    page = ClarifyPage(title, str(result.status), result.describe(), result.failure_reason)
    page.violations = [v.to_json() for v in result.violations]
    page.warnings = list(result.warnings)
    page.facts = [(k, str(v)) for k, v in result.counts.to_json().items() if v]
    page.ndcg = dict(result.details.get("ndcg", {}))
    if result.analysis is None or config is None:
        return page
    if result.monitoring_type == BIAS:
        worse = {(v.facet, v.facet_value, v.metric_name) for v in result.violations}
        for key, stage in STAGES:
            reference = keyed(config, (baseline or {}).get(key))
            for found, number in keyed(config, result.analysis.get(key)).items():
                row = BiasRow(stage, *found, number, reference.get(found), found in worse)
                page.bias.append(row)
        return page
    label = attribution.label_name(config)
    now = attribution.global_values(result.analysis, label)
    before = attribution.global_values(baseline or {}, label)
    ranks = {name: i + 1 for i, name in enumerate(sorted(now, key=lambda n: -now[n]))}
    before_ranks = {name: i + 1 for i, name in enumerate(sorted(before, key=lambda n: -before[n]))}
    page.features = [
        FeatureRow(name, now[name], before.get(name), ranks[name], before_ranks.get(name))
        for name in sorted(now, key=lambda n: ranks[n])
    ]
    return page


def write_clarify_report(
    output: str,
    result: ClarifyResult,
    baseline: dict[str, Any] | None,
    config: AnalysisConfig | None,
    title: str,
) -> str | None:
    """Write report.html under `output`; its URL, or None when it could not be written."""
    url = storage.join(output, REPORT_FILE)
    try:
        page = build_page(result, baseline, config, title)
        html = templates.render(
            "clarify.html", page=page, page_title=f"{page.status}: {title}", chart_count=0,
            shown=_shown,
        )  # fmt: skip
        storage.write_bytes(url, html.encode("utf-8"))
    except Exception as exc:  # a page must never turn a finished run into a crash
        log.exception("report.html failed", extra={"report": url, "error": repr(exc)})
        return None
    return url


def _shown(value: float | None) -> str:
    """A metric value; "-" when it is undefined (null in analysis.json, NaN here)."""
    return "-" if value is None or math.isnan(value) else templates.num(value)
