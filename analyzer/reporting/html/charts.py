"""Charts as inline SVG drawn by matplotlib: no scripts, so a page opens anywhere, offline.

Each function takes the data a page model computed and returns one `<svg>` element whose ids
are prefixed with a chart id, so many charts can live in one HTML document. The per-feature
chart is drawn on one reused figure (`FeatureCanvas`): new figures cost most of the time.
"""

from __future__ import annotations

import io
import itertools
import re
from typing import Any

BASELINE = "#8c96a0"
CURRENT = "#d9541e"
THRESHOLD = "#b00020"
OK = "#2e7d32"
_counter = itertools.count()
_ID = re.compile(r'(id="|url\(#|href="#)([^"()]+)')
_SIZE = re.compile(r'^(<svg[^>]*?) width="[^"]*" height="[^"]*"')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_PATH = re.compile(r' d="([^"]*)"')
_NUMBER = re.compile(r"-?\d+\.\d{2,}")


def figure_class() -> Any:
    """matplotlib's Figure with the SVG backend, text kept as text (small and searchable).

    Every string is drawn as plain text: category values, feature names and model names come
    from traffic, and a pair of `$` in one would otherwise be parsed as a formula (mathtext),
    which draws it wrongly or fails the whole page.
    """
    import matplotlib

    matplotlib.use("svg", force=False)
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "text.parse_math": False,
            "svg.hashsalt": "infertap",  # same input, same page
            "font.size": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 9,
            "legend.frameon": False,
        }
    )
    from matplotlib.figure import Figure

    return Figure


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Any:
    return figure_class()(figsize=(width, height), layout=layout)


def to_svg(figure: Any, label: str) -> str:
    """The figure as a compact `<svg>` element that scales to its container, ids unique."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = _METADATA.sub("", text[text.index("<svg") :])
    # Path coordinates to 0.1 pt: invisible on screen, a third of the bytes.
    text = _PATH.sub(lambda m: ' d="' + _round(m.group(1)) + '"', text)
    text = "".join(
        line.strip() + ("\n" if line.endswith(">") else " ") for line in text.splitlines()
    )
    prefix = f"c{next(_counter)}-"
    text = _ID.sub(lambda m: m.group(1) + prefix + m.group(2), text)
    text = _SIZE.sub(r"\1", text, count=1)
    return text.replace("<svg", f'<svg role="img" aria-label="{_attr(label)}"', 1)


def _round(path: str) -> str:
    return _NUMBER.sub(lambda m: f"{float(m.group(0)):.1f}", " ".join(path.split()))


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def few_ticks(*axes: Any, x: int = 5, y: int = 4) -> None:
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(x))
        ax.yaxis.set_major_locator(MaxNLocator(y))
