"""Clarify's bias report on columns: analysis.json's `pre_training_bias_metrics` and
`post_training_bias_metrics` (label, label_value_or_threshold, facets -> groups -> metrics).

Rows come from a dataset (every row labelled) or from a monitoring window (every capture has a
facet and a prediction; only those joined to ground truth have a label). Metrics that need no
label (CI, DPPL, DI, CDDPL) use every row; the others use the labelled rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.clarify import columns
from analyzer.clarify.columns import Bools, Column
from analyzer.clarify.config import AnalysisConfig
from analyzer.clarify.metrics import METRICS, Rows, Undefined
from analyzer.clarify.names import DESCRIPTIONS, LABEL_FREE
from analyzer.results.problem import LabelValueError

PRE_TRAINING_KEY = "pre_training_bias_metrics"
POST_TRAINING_KEY = "post_training_bias_metrics"


@dataclass(frozen=True, slots=True)
class BiasData:
    """Every row's facet (and group variable) values, its prediction, and which rows have a
    label; `label` holds the labelled rows' values only, in row order."""

    columns: dict[str, Column]
    labelled: Bools
    label: Column | None
    predicted: Column | None = None
    features: dict[str, Column] | None = None  # every feature of every row, for FT only


@dataclass(frozen=True, slots=True)
class Positives:
    label: Bools | None  # over the labelled rows
    predicted: Bools | None  # over every row
    text: str  # label_value_or_threshold


def positives(
    config: AnalysisConfig, label: Column | None, predicted: Column | None, label_kind: str | None
) -> Positives:
    """Which labels and predictions are positive (smclarify's `_positive_label_index` and
    `_positive_predicted_index`: the label's type decides for both)."""
    values = config.label_values
    text = ",".join(map(str, values))
    if label is not None and label.size == 0:
        label = None
    known = label if label is not None else predicted
    if known is None:
        return Positives(None, None, text)
    found = label_kind or columns.kind(known, values)
    if found == columns.CATEGORICAL:
        return Positives(
            None if label is None else columns.category_rows(label, values),
            None if predicted is None else columns.category_rows(predicted, values),
            text,
        )
    label_rows = None
    if label is not None:
        text, label_rows = columns.threshold_rows(label, values[0], columns.column_max(label))
    predicted_rows = None
    if predicted is not None:
        both = [columns.numeric(c) for c in (label, predicted) if c is not None]
        high: float | int = float(np.nanmax(np.concatenate(both)))
        if all(c.dtype == np.int64 for c in (label, predicted) if c is not None):
            high = int(high)
        predicted_rows = columns.threshold_rows(predicted, values[0], high)[1]
    return Positives(label_rows, predicted_rows, text)


def report(
    config: AnalysisConfig,
    data: BiasData,
    stage: str,
    label_kind: str | None = None,
    facet_kinds: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One stage's section of analysis.json. `label_kind` and `facet_kinds` (categorical or
    continuous): as the baseline typed them, so that a run reads its columns as its baseline did
    (Clarify infers them from each dataset: a window with fewer distinct ages would otherwise
    turn a threshold into a category)."""
    names = config.pre_training if stage == PRE_TRAINING_KEY else config.post_training
    post = stage == POST_TRAINING_KEY
    found = positives(config, data.label, data.predicted if post else None, label_kind)
    group = _group_codes(data.columns.get(config.group_variable or "", None))
    facets: dict[str, list[dict[str, Any]]] = {}
    for facet in config.facets:
        column = data.columns[facet.name]
        others = _features(data, facet.name) if "FT" in (names or ()) else None
        facets[facet.name] = [
            {
                "value_or_threshold": g.text,
                "metrics": [
                    _metric(n, _rows(g.rows, data, found, group, n, others)) for n in names or ()
                ],
            }
            for g in columns.facet_groups(column, facet.values, (facet_kinds or {}).get(facet.name))
        ]
    return {
        "label": config.label,
        "label_value_or_threshold": found.text,
        "facets": facets,
    }


def _group_codes(column: Column | None) -> npt.NDArray[np.int64] | None:
    if column is None:
        return None
    return np.unique(column, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _rows(
    facet: Bools,
    data: BiasData,
    found: Positives,
    group: npt.NDArray[np.int64] | None,
    name: str,
    features: npt.NDArray[Any] | None = None,
) -> Rows:
    if name in LABEL_FREE:
        return Rows(facet, None, found.predicted, group, features if name == "FT" else None)
    labelled = data.labelled
    return Rows(
        facet=facet[labelled],
        label=found.label,
        predicted=None if found.predicted is None else found.predicted[labelled],
        group=None if group is None else group[labelled],
    )


def _features(data: BiasData, facet: str) -> npt.NDArray[Any] | None:
    """Every feature but the facet, as one matrix (an object matrix when one is text)."""
    if not data.features:
        return None
    picked = [column for name, column in data.features.items() if name != facet]
    if any(column.dtype == object for column in picked):
        return np.empty((0, 0), dtype=object)
    return np.column_stack([columns.numeric(column) for column in picked])


def _metric(name: str, rows: Rows) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "description": DESCRIPTIONS[name]}
    try:
        entry["value"] = json_value(METRICS[name](rows))
    except (Undefined, LabelValueError) as exc:
        entry["value"] = None
        entry["error"] = str(exc)
    return entry


def json_value(value: float) -> float | str:
    """A metric value as Clarify writes it: infinities as the strings "Infinity"/"-Infinity"."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def metric_values(section: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    """(facet, value_or_threshold, metric) -> value of one stage section; null is NaN."""
    found: dict[tuple[str, str, str], float] = {}
    for facet, groups in section.get("facets", {}).items():
        for group in groups:
            for metric in group.get("metrics", []):
                found[(facet, str(group["value_or_threshold"]), metric["name"])] = _number(
                    metric.get("value")
                )
    return found


def _number(value: Any) -> float:
    if value in ("Infinity", "-Infinity"):
        return float("inf") if value == "Infinity" else float("-inf")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def facet_kinds_of(section: dict[str, Any] | None) -> dict[str, str]:
    """How a baseline read each facet: a threshold's group text starts with "(" (an interval)."""
    found: dict[str, str] = {}
    for name, groups in ((section or {}).get("facets") or {}).items():
        texts = [str(g.get("value_or_threshold", "")) for g in groups if isinstance(g, dict)]
        if texts:
            interval = any(t.startswith("(") for t in texts)
            found[str(name)] = columns.CONTINUOUS if interval else columns.CATEGORICAL
    return found


def label_kind_of(section: dict[str, Any] | None) -> str | None:
    """How a baseline read its label: a threshold's interval text starts with "("."""
    if not section:
        return None
    text = str(section.get("label_value_or_threshold", ""))
    return columns.CONTINUOUS if text.startswith("(") else columns.CATEGORICAL


def all_rows(size: int) -> Bools:
    return np.ones(size, dtype=np.bool_)
