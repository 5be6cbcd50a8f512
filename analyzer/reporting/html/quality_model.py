"""The page model of one model-quality run, from SageMaker's model-quality statistics.json.

Layout (shared/data/sagemaker-model-quality-statistics-example.json): `{problem}_metrics` holds
scalars `{"value": v, "standard_deviation": s}` ("NaN" below 200 rows), `confusion_matrix`
(actual -> predicted -> count), `receiver_operating_characteristic_curve` and
`precision_recall_curve`. Estimates made before labels arrive sit in their own top-level object
(`estimated_{problem}_metrics`, `QualityResult.estimated`). Thresholds come from the baseline's
`{problem}_constraints`. The page is drawn from the run's typed result (`sources.QualityReport`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from analyzer.reporting.execution import iso
from analyzer.reporting.html.sources import QUALITY_KEYS, QualityReport
from analyzer.reporting.quality_record import QualityResult
from analyzer.results.constraints import OPERATORS, MetricConstraint

TWIN = "_best_constant_classifier"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float | None
    standard_deviation: float | None
    best_constant: float | None  # the `*_best_constant_classifier` twin
    threshold: float | None
    operator: str | None
    violated: bool


@dataclass(slots=True)
class QualityPage:
    title: str
    status: str
    message: str
    failure_reason: str | None
    problem_type: str
    facts: list[tuple[str, str]]
    metrics: list[Metric]
    violations: list[dict[str, str]]
    labels: list[str] = field(default_factory=list)  # confusion matrix axes
    matrix: list[list[float]] = field(default_factory=list)  # [actual][predicted]
    roc: tuple[list[float], list[float]] | None = None  # (false positive, true positive rates)
    pr: tuple[list[float], list[float]] | None = None  # (recalls, precisions)
    estimates: list[tuple[str, float, float | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def number(raw: Any) -> float | None:
    """A metric value: numbers and "NaN"/"Infinity" strings; None when absent or not a number."""
    if isinstance(raw, dict):
        raw = raw.get("value")
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def build_quality_page(report: QualityReport) -> QualityPage:
    result = report.result
    statistics = (result.statistics if result else None) or {}
    key = next((k for k in QUALITY_KEYS if isinstance(statistics.get(k), dict)), QUALITY_KEYS[0])
    metrics: dict[str, Any] = statistics.get(key) or {}
    violations = [v.to_json() for v in result.violations] if result else []
    violated = {v.get("metric_name") for v in violations}
    constraints = {c.metric: c for c in report.constraints or []}
    page = QualityPage(
        title=_title(result, report.folder),
        status=str(result.status) if result else "Unknown",
        message=(result.message if result else "") or "execution.json is missing or unreadable",
        failure_reason=result.failure_reason if result else None,
        problem_type=key.removesuffix("_metrics").replace("_", " "),
        facts=_facts(result, statistics),
        metrics=_metrics(metrics, constraints, violated),
        violations=violations,
        problems=list(report.problems),
    )
    page.labels, page.matrix = confusion(metrics.get("confusion_matrix"))
    page.roc = curve(
        metrics.get("receiver_operating_characteristic_curve"),
        "false_positive_rates",
        "true_positive_rates",
    )
    page.pr = curve(metrics.get("precision_recall_curve"), "recalls", "precisions")
    page.estimates = _estimates(result.estimated if result else None, metrics)
    if report.constraints is None and not page.failure_reason:
        page.problems.append("no model-quality constraints found: metrics shown without thresholds")
    return page


def _title(result: QualityResult | None, folder: str) -> str:
    if result is None or not result.endpoint_name:
        return f"Model quality run in {folder}"
    return f"{result.endpoint_name} / {result.variant_name or '?'}: model quality"


def _facts(result: QualityResult | None, statistics: dict[str, Any]) -> list[tuple[str, str]]:
    start, end = (iso(result.start), iso(result.end)) if result else (None, None)
    facts = [("window", f"{start or '?'} to {end or '?'}")]
    item_count = (statistics.get("dataset") or {}).get("item_count")
    if item_count is not None:
        facts.append(("joined rows", str(item_count)))
    counts = result.counts.to_json() if result else {}
    facts += [(k.replace("_", " "), str(v)) for k, v in counts.items()]
    facts.append(("finished", (iso(result.finished_at) if result else None) or "?"))
    return facts


def _metrics(
    metrics: dict[str, Any], constraints: dict[str, MetricConstraint], violated: set[str | None]
) -> list[Metric]:
    """Scalar metrics (not the twins, curves or matrix), those with thresholds first."""
    out = []
    for name, raw in metrics.items():
        if name.endswith(TWIN) or not isinstance(raw, dict) or "value" not in raw:
            continue
        constraint = constraints.get(name)
        value = number(raw)
        threshold = constraint.threshold if constraint else None
        operator = constraint.comparison_operator if constraint else None
        out.append(
            Metric(
                name=name,
                value=value,
                standard_deviation=number(raw.get("standard_deviation")),
                best_constant=number(metrics.get(name + TWIN)),
                threshold=threshold,
                operator=operator,
                violated=name in violated or breaks(value, threshold, operator),
            )
        )
    return sorted(out, key=lambda m: (not m.violated, m.threshold is None, m.name))


def breaks(value: float | None, threshold: float | None, operator: Any) -> bool:
    """A violation as SageMaker words it: the value was LessThan / GreaterThan the threshold."""
    if value is None or threshold is None or math.isnan(value) or operator not in OPERATORS:
        return False
    return OPERATORS[operator](value, threshold)


def confusion(raw: Any) -> tuple[list[str], list[list[float]]]:
    """Labels (numeric ones in numeric order) and counts[actual][predicted]."""
    if not isinstance(raw, dict) or not raw:
        return [], []
    names = set(raw)
    for row in raw.values():
        if isinstance(row, dict):
            names |= set(row)
    labels = sorted(names, key=_label_order)
    matrix = []
    for actual in labels:
        row = raw.get(actual)
        row = row if isinstance(row, dict) else {}
        matrix.append([number(row.get(predicted)) or 0.0 for predicted in labels])
    return labels, matrix


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def curve(raw: Any, x_key: str, y_key: str) -> tuple[list[float], list[float]] | None:
    """The finite (x, y) points of a curve; None when it is absent or empty."""
    if not isinstance(raw, dict):
        return None
    xs, ys = raw.get(x_key) or [], raw.get(y_key) or []
    points = [(number(x), number(y)) for x, y in zip(xs, ys, strict=False)]
    kept = [(x, y) for x, y in points if x is not None and y is not None]
    kept = [(x, y) for x, y in kept if math.isfinite(x) and math.isfinite(y)]
    if not kept:
        return None
    return [x for x, _ in kept], [y for _, y in kept]


def _estimates(raw: Any, metrics: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    """(metric, estimate, realised or None while labels have not arrived)."""
    if not isinstance(raw, dict):
        return []
    out = []
    for name, value in raw.items():
        estimate = number(value)
        if estimate is not None and math.isfinite(estimate):
            out.append((name, estimate, number(metrics.get(name))))
    return out
