"""Feature attributions in Clarify's analysis.json layout, and the rows they are computed on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.clarify.config import AnalysisConfig
from analyzer.errors import ConfigError, DatasetError

EXPLANATIONS_KEY = "explanations"
METHOD_KEY = "kernel_shap"


def label_name(config: AnalysisConfig) -> str:
    """Clarify's name of the explained output: the first of `label_headers`, else `label0`."""
    headers = config.predictor.label_headers if config.predictor else None
    return headers[0] if headers else "label0"


def section(label: str, features: Sequence[str], values: Any, expected: float) -> dict[str, Any]:
    shap_values = {name: float(v) for name, v in zip(features, values, strict=True)}
    return {
        EXPLANATIONS_KEY: {
            METHOD_KEY: {label: {"global_shap_values": shap_values, "expected_value": expected}}
        }
    }


def global_values(document: dict[str, Any], label: str) -> dict[str, float]:
    """A label's global SHAP values from an analysis.json (empty when it has none)."""
    found = document.get(EXPLANATIONS_KEY, {}).get(METHOD_KEY, {}).get(label, {})
    values = found.get("global_shap_values", {}) if isinstance(found, dict) else {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, int | float)}


def numeric_matrix(
    values: dict[str, list[Any]], features: Sequence[str], where: str
) -> tuple[npt.NDArray[np.float64], int]:
    """Rows with every feature a number (others dropped and counted): (matrix, dropped)."""
    size = len(values[features[0]]) if features else 0
    matrix = np.full((size, len(features)), np.nan)
    for column, name in enumerate(features):
        for row, value in enumerate(values[name]):
            try:
                matrix[row, column] = float(value)
            except (TypeError, ValueError):
                continue
    keep = ~np.isnan(matrix).any(axis=1)
    if size and not keep.any():
        raise DatasetError(
            f"no row of {where} has a number for every feature ({', '.join(features)}); "
            "Kernel SHAP here needs numeric features"
        )
    return matrix[keep], int(size - keep.sum())


def shap_baseline(config: AnalysisConfig) -> npt.NDArray[np.float64]:
    assert config.shap is not None
    try:
        return np.asarray(config.shap.baseline, dtype=np.float64)
    except ValueError:
        raise ConfigError(
            "analysis_config.json: methods.shap.baseline must hold numbers (numeric features)"
        ) from None


def sample(
    matrix: npt.NDArray[np.float64], limit: int, seed: int | None
) -> npt.NDArray[np.float64]:
    """A seeded sample of at most `limit` rows, in their original order (same input, same rows)."""
    if len(matrix) <= limit:
        return matrix
    chosen = np.random.default_rng(seed if seed is not None else 0).choice(
        len(matrix), limit, replace=False
    )
    return matrix[np.sort(chosen)]
