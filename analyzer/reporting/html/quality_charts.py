"""Model-quality charts: metrics against thresholds, confusion matrix, ROC and PR curves."""

from __future__ import annotations

import math

from analyzer.reporting.html.charts import (
    BASELINE,
    CURRENT,
    THRESHOLD,
    few_ticks,
    new_figure,
    short,
    to_svg,
)
from analyzer.reporting.html.quality_model import Metric


def metrics_against_thresholds(metrics: list[Metric]) -> str | None:
    """One bar per finite metric value, its threshold as a tick; violated bars in red."""
    shown = [m for m in metrics if m.value is not None and math.isfinite(m.value)]
    if not shown:
        return None
    figure = new_figure(6.4, 0.8 + 0.24 * len(shown))
    axes = figure.subplots()
    positions = list(range(len(shown)))
    axes.barh(
        positions,
        [m.value for m in shown],
        height=0.6,
        color=[THRESHOLD if m.violated else BASELINE for m in shown],
    )
    with_threshold = [
        (p, m.threshold)
        for p, m in zip(positions, shown, strict=True)
        if m.threshold is not None and math.isfinite(m.threshold)
    ]
    if with_threshold:
        axes.scatter(
            [t for _, t in with_threshold],
            [p for p, _ in with_threshold],
            marker="|",
            s=140,
            color="black",
            label="threshold",
            zorder=3,
        )
        axes.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=7)
    axes.set_yticks(positions, [short(m.name) for m in shown])
    axes.invert_yaxis()
    axes.set_xlabel("value in this run")
    return to_svg(figure, "model-quality metrics against their thresholds")


def confusion_matrix(labels: list[str], matrix: list[list[float]]) -> str | None:
    if not labels:
        return None
    size = min(6.4, 1.6 + 0.45 * len(labels))
    figure = new_figure(size, size * 0.85)
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    peak = max((max(row) for row in matrix), default=0.0)
    if len(labels) <= 20:
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                color = "white" if peak and count > peak / 2 else "black"
                axes.text(j, i, f"{count:g}", ha="center", va="center", color=color)
    ticks = list(range(len(labels)))
    axes.set_xticks(ticks, [short(x, 12) for x in labels])
    axes.set_yticks(ticks, [short(x, 12) for x in labels])
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    return to_svg(figure, "confusion matrix: actual by predicted")


def curve_chart(
    points: tuple[list[float], list[float]] | None, x_label: str, y_label: str, diagonal: bool
) -> str | None:
    if points is None:
        return None
    figure = new_figure(3.2, 2.8)
    axes = figure.subplots()
    axes.plot(points[0], points[1], color=CURRENT, linewidth=1.6, marker=".", markersize=3)
    if diagonal:
        axes.plot([0, 1], [0, 1], color=BASELINE, linestyle="--", linewidth=1, label="chance")
        axes.legend(loc="lower right", fontsize=7)
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.05)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    few_ticks(axes, x=5, y=5)
    return to_svg(figure, f"{y_label} by {x_label}")


def estimates_chart(rows: list[tuple[str, float, float | None]]) -> str | None:
    """Estimated (before labels) and realised (from labels) side by side per metric."""
    if not rows:
        return None
    figure = new_figure(6.4, 0.8 + 0.3 * len(rows))
    axes = figure.subplots()
    positions = list(range(len(rows)))
    axes.barh(
        [p - 0.2 for p in positions],
        [e for _, e, _ in rows],
        height=0.4,
        color=BASELINE,
        label="estimated",
    )
    realised = [
        (p, r)
        for p, (_, _, r) in zip(positions, rows, strict=True)
        if r is not None and math.isfinite(r)
    ]
    axes.barh(
        [p + 0.2 for p, _ in realised],
        [r for _, r in realised],
        height=0.4,
        color=CURRENT,
        label="realised",
    )
    axes.set_yticks(positions, [short(name) for name, _, _ in rows])
    axes.invert_yaxis()
    axes.legend(loc="lower right", fontsize=7)
    return to_svg(figure, "estimated and realised metrics")
