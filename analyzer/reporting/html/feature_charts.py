"""The chart of each feature: baseline and current distributions drawn over each other."""

from __future__ import annotations

from typing import Any

from analyzer.reporting.html import distributions
from analyzer.reporting.html.charts import (
    BASELINE,
    CURRENT,
    THRESHOLD,
    few_ticks,
    new_figure,
    short,
    to_svg,
)


class FeatureCanvas:
    """One figure whose artists get each numeric feature's data in turn: the histogram, and with
    `with_cdf` both CDFs beside it with the largest gap marked (for features with findings)."""

    def __init__(self, with_cdf: bool = True) -> None:
        figure = new_figure(6.4 if with_cdf else 3.4, 1.9, layout=None)
        left = 0.07 if with_cdf else 0.13
        figure.subplots_adjust(left=left, right=0.98, bottom=0.13, top=0.87, wspace=0.2)
        self.figure = figure
        if with_cdf:
            self.hist, cdf = figure.subplots(1, 2)
            self.cdf: _CdfPanel | None = _CdfPanel(cdf)
        else:
            self.hist, self.cdf = figure.subplots(), None
        self.hist_base = self.hist.stairs(
            [0.0], [0.0, 1.0], fill=True, color=BASELINE, alpha=0.55, label="baseline"
        )
        self.hist_now = self.hist.stairs(
            [0.0], [0.0, 1.0], color=CURRENT, linewidth=1.4, label="this run"
        )
        self.hist.set_title("share of values per bin", loc="left")
        self.hist.legend(loc="upper right", fontsize=7)
        few_ticks(self.hist)

    def draw(self, name: str, data: distributions.NumericDistribution) -> str:
        empty = [0.0] * (len(data.edges) - 1)
        self.hist_base.set_data(data.baseline_share or empty, data.edges)
        self.hist_now.set_data(data.current_share or empty, data.edges)
        self.hist_base.set_visible(bool(data.baseline_share))
        self.hist_now.set_visible(bool(data.current_share))
        self.hist.relim()
        self.hist.autoscale_view()
        if self.cdf is not None:
            self.cdf.draw(data)
        return to_svg(self.figure, f"distributions of {name}: baseline and this run")


class _CdfPanel:
    """Both CDFs on one axes, the largest gap between them (the drift distance) in red."""

    def __init__(self, axes: Any) -> None:
        self.axes = axes
        (self.base,) = axes.step([0], [0], where="post", color=BASELINE, linewidth=1.4)
        (self.now,) = axes.step([0], [0], where="post", color=CURRENT, linewidth=1.4)
        (self.gap,) = axes.plot([0, 0], [0, 0], color=THRESHOLD, linewidth=2.2)
        self.gap_text = axes.text(0, 0, "", color=THRESHOLD, fontsize=7)
        axes.set_title("cumulative share (CDF), largest gap in red", loc="left")
        few_ticks(axes)

    def draw(self, data: distributions.NumericDistribution) -> None:
        for line, values in ((self.base, data.baseline_cdf), (self.now, data.current_cdf)):
            line.set_data(data.grid if values else [], values)
        if data.gap is None or data.gap_at is None:
            self.gap.set_data([], [])
            self.gap_text.set_text("")
        else:
            low = min(
                step_value(data.grid, data.baseline_cdf, data.gap_at),
                step_value(data.grid, data.current_cdf, data.gap_at),
            )
            self.gap.set_data([data.gap_at, data.gap_at], [low, low + data.gap])
            self.gap_text.set_position((data.gap_at, low + data.gap / 2))
            self.gap_text.set_text(f" {data.gap:.3f}")
        self.axes.set_xlim(data.edges[0], data.edges[-1])
        self.axes.set_ylim(0, 1.03)


def step_value(grid: list[float], cdf: list[float], x: float) -> float:
    """A right-continuous step CDF's value at x (0 before its first point)."""
    value = 0.0
    for point, share in zip(grid, cdf, strict=False):
        if point > x:
            break
        value = share
    return value


def categorical_feature(name: str, data: distributions.CategoricalDistribution) -> str:
    """Category shares, baseline and current side by side, most frequent on top."""
    rows = len(data.categories)
    figure = new_figure(6.4, 0.7 + 0.22 * rows)
    axes = figure.subplots()
    positions = list(range(rows))
    if data.baseline_share:
        axes.barh(
            [p - 0.2 for p in positions],
            data.baseline_share,
            height=0.4,
            color=BASELINE,
            label="baseline",
        )
    if data.current_share:
        axes.barh(
            [p + 0.2 for p in positions],
            data.current_share,
            height=0.4,
            color=CURRENT,
            label="this run",
        )
    axes.set_yticks(positions, [short(c) for c in data.categories])
    axes.invert_yaxis()
    axes.set_xlabel("share of values")
    axes.legend(loc="lower right", fontsize=7)
    return to_svg(figure, f"category shares of {name}: baseline and this run")


def drift_overview(rows: list[tuple[str, float, float]], limit: int = 30) -> str:
    """Drift distance per feature as bars, each with its threshold; over it in red."""
    shown = rows[:limit]
    figure = new_figure(6.4, 0.8 + 0.2 * len(shown))
    axes = figure.subplots()
    positions = list(range(len(shown)))
    axes.barh(
        positions,
        [d for _, d, _ in shown],
        height=0.6,
        color=[THRESHOLD if d > t else BASELINE for _, d, t in shown],
    )
    axes.scatter(
        [t for _, _, t in shown],
        positions,
        marker="|",
        s=120,
        color="black",
        label="threshold",
        zorder=3,
    )
    axes.set_yticks(positions, [short(name) for name, _, _ in shown])
    axes.invert_yaxis()
    axes.set_xlabel("drift distance, as the check compared it")
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=7)
    return to_svg(figure, "drift distance per feature against its threshold")


def feature_chart(canvases: dict[bool, FeatureCanvas], view: Any) -> str | None:
    """The chart of a run_model.FeatureView, or None when it has nothing to draw; the CDF panel
    only for features with findings (a histogram says enough for the others, at half the cost).
    `canvases` keeps one canvas of each kind per page."""
    if view.numeric is not None:
        with_cdf = bool(view.findings)
        if with_cdf not in canvases:
            canvases[with_cdf] = FeatureCanvas(with_cdf)
        return canvases[with_cdf].draw(view.name, view.numeric)
    if view.categorical is not None:
        return categorical_feature(view.name, view.categorical)
    return None
