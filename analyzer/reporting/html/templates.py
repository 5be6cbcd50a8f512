"""The Jinja2 environment of the report pages: autoescaped templates and number formats."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import jinja2

_NON_FINITE = {"nan": "NaN", "inf": "+inf", "-inf": "-inf"}


def num(value: Any) -> str:
    """4 significant digits; NaN and ±inf spelled out; '-' when absent."""
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return _NON_FINITE.get(str(number), str(number))
    return f"{number:.4g}"


def pct(value: Any) -> str:
    if value is None:
        return "-"
    number = float(value)
    return f"{number:.1%}" if math.isfinite(number) else num(number)


def _version() -> str:
    try:
        return version("infertap")
    except PackageNotFoundError:
        return "(source)"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analyzer.reporting.html", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(num=num, pct=pct, version=_version())
    return env


def render(template: str, **context: Any) -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return environment().get_template(template).render(generated=generated, **context)
