"""The `bias` and `attribution` sections of an endpoint in the schedule's YAML configuration.

    endpoints:
      - name: credit
        ...
        bias:
          analysis_config: s3://bucket/clarify/analysis_config.json      # required
          baseline_constraints: s3://bucket/clarify/bias/analysis.json   # required
          ground_truth: s3://bucket/ground-truth   # optional: without it, CI DPPL DI CDDPL only
          probability_attribute: "0"               # and/or inference_attribute (else the config's)
          probability_threshold: 0.5               # else the config's
          label_delay: 24                          # hours; the run for hour H waits for labels
        attribution:
          analysis_config: s3://bucket/clarify/analysis_config.json      # required
          baseline_constraints: s3://bucket/clarify/shap/analysis.json   # required
          model_url: http://model:8080/invocations                       # required
          max_records: 100
          max_model_calls: 5000

Reports go under `{output}/bias/...` and `{output}/attribution/{endpoint}/{variant}/YYYY/MM/DD/HH/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.errors import ConfigError

BIAS_KEY = "bias"
ATTRIBUTION_KEY = "attribution"
_BIAS_REQUIRED = ("analysis_config", "baseline_constraints")
_BIAS_OPTIONAL = (
    "ground_truth",
    "inference_attribute",
    "probability_attribute",
    "probability_threshold",
    "label_delay",
)
_ATTRIBUTION_REQUIRED = ("analysis_config", "baseline_constraints", "model_url")
_ATTRIBUTION_OPTIONAL = ("max_records", "max_model_calls", "batch_rows", "model_concurrency")


@dataclass(frozen=True, slots=True)
class BiasSection:
    analysis_config: str
    baseline_constraints: str
    ground_truth: str | None = None
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float | None = None
    label_delay_hours: int = 24


@dataclass(frozen=True, slots=True)
class AttributionSection:
    analysis_config: str
    baseline_constraints: str
    model_url: str
    max_records: int = 100
    max_model_calls: int | None = None
    batch_rows: int = 1000
    model_concurrency: int = 4


def _check(raw: Any, place: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{place}: must be a mapping with {', '.join(required)}")
    unknown = sorted(set(raw) - {*required, *optional})
    if unknown:
        known = ", ".join(sorted({*required, *optional}))
        raise ConfigError(f"{place}.{unknown[0]}: unknown key; known keys are {known}")
    for key in required:
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{place}.{key}: missing; add it as a string")


def _whole(raw: dict[str, Any], key: str, default: int | None, low: int, place: str) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{place}.{key}: must be a whole number of at least {low}, got {value!r}")
    return value


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


def parse_bias(raw: Any, where: str, source: str) -> BiasSection:
    place = f"{source}: {where}.{BIAS_KEY}"
    _check(raw, place, _BIAS_REQUIRED, _BIAS_OPTIONAL)
    threshold = raw.get("probability_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise ConfigError(
            f"{place}.probability_threshold: must be a number in [0, 1], got {threshold!r}"
        )
    delay = _whole(raw, "label_delay", 24, 0, place)
    assert delay is not None
    return BiasSection(
        analysis_config=raw["analysis_config"],
        baseline_constraints=raw["baseline_constraints"],
        ground_truth=_text(raw, "ground_truth"),
        inference_attribute=_text(raw, "inference_attribute"),
        probability_attribute=_text(raw, "probability_attribute"),
        probability_threshold=None if threshold is None else float(threshold),
        label_delay_hours=delay,
    )


def parse_attribution(raw: Any, where: str, source: str) -> AttributionSection:
    place = f"{source}: {where}.{ATTRIBUTION_KEY}"
    _check(raw, place, _ATTRIBUTION_REQUIRED, _ATTRIBUTION_OPTIONAL)
    return AttributionSection(
        analysis_config=raw["analysis_config"],
        baseline_constraints=raw["baseline_constraints"],
        model_url=raw["model_url"],
        max_records=_whole(raw, "max_records", 100, 1, place) or 100,
        max_model_calls=_whole(raw, "max_model_calls", None, 1, place),
        batch_rows=_whole(raw, "batch_rows", 1000, 1, place) or 1000,
        model_concurrency=_whole(raw, "model_concurrency", 4, 1, place) or 4,
    )
