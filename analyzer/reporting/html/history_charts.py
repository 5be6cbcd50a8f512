"""History charts: runs per hour by status, drift per feature over time, metrics over time."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from analyzer.reporting.html.charts import BASELINE, CURRENT, THRESHOLD, new_figure, short, to_svg
from analyzer.reporting.html.history_model import HourRow, Series

STATUS_COLORS = {
    "Completed": "#2e7d32",
    "CompletedWithViolations": "#c62828",
    "Failed": "#6a1b9a",
}


def _time_axis(axes: Any) -> None:
    dates: Any = importlib.import_module("matplotlib.dates")
    locator = dates.AutoDateLocator(maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))


def statuses(rows: list[HourRow], missing: list[datetime]) -> str | None:
    """One bar per hour, its height the violations, its colour the status; missing hours grey."""
    if not rows:
        return None
    figure = new_figure(6.4, 1.9)
    axes = figure.subplots()
    width = 1 / 24 * 0.8
    for status, color in [*STATUS_COLORS.items(), ("Unknown", BASELINE)]:
        chosen = [
            r for r in rows if (r.status if r.status in STATUS_COLORS else "Unknown") == status
        ]
        if chosen:
            heights = [_height(r.violations) for r in chosen]
            axes.bar([r.hour for r in chosen], heights, width=width, color=color, label=status)
    if missing:
        axes.bar(missing, [0.5] * len(missing), width=width, color="#d0d4d8", label="no run")
    axes.set_ylabel("violations")
    axes.set_title("bar height: violations (a stub: none)", loc="right", fontsize=7)
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=4, fontsize=7)
    _time_axis(axes)
    return to_svg(figure, "runs per hour by status; bar height is the number of violations")


def _height(violations: object) -> float:
    """Zero violations still get a visible stub, so every run shows its status colour."""
    if isinstance(violations, int) and violations > 0:
        return float(violations)
    return 0.25


def drift_lines(name: str, series: Series, threshold: float | None) -> str:
    figure = new_figure(6.4, 1.5)
    axes = figure.subplots()
    hours, values = [h for h, _ in series], [v for _, v in series]
    axes.plot(hours, values, color=CURRENT, marker=".", linewidth=1.4, label="drift distance")
    if threshold is not None:
        axes.axhline(threshold, color=THRESHOLD, linestyle="--", linewidth=1, label="threshold")
    axes.set_title(short(name, 60), loc="left")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize=7)
    _time_axis(axes)
    return to_svg(figure, f"drift distance of {name} per hour against the threshold")


def metric_lines(name: str, series: Series, threshold: tuple[float, str] | None) -> str:
    figure = new_figure(6.4, 1.5)
    axes = figure.subplots()
    axes.plot(
        [h for h, _ in series],
        [v for _, v in series],
        color=CURRENT,
        marker=".",
        linewidth=1.4,
        label=name,
    )
    if threshold is not None:
        axes.axhline(
            threshold[0],
            color=THRESHOLD,
            linestyle="--",
            linewidth=1,
            label=f"threshold ({threshold[1]})",
        )
    axes.set_title(short(name, 60), loc="left")
    axes.legend(loc="upper left", fontsize=7)
    _time_axis(axes)
    return to_svg(figure, f"{name} per hour against its threshold")
