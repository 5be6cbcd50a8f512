"""The `model_quality` section of an endpoint in the schedule's YAML configuration.

    endpoints:
      - name: churn
        ...
        model_quality:
          ground_truth: s3://bucket/ground-truth      # required: where labels are posted
          baseline_constraints: s3://bucket/mq/constraints.json   # required
          problem_type: BinaryClassification          # required
          probability_attribute: "0"                  # and/or inference_attribute
          probability_threshold: 0.5
          label_delay: 24                             # hours; the run for hour H waits for them
          baseline_statistics: s3://bucket/mq/statistics.json     # optional: known classes

The scheduler runs model quality for the hour `label_delay` hours before each hour it analyses,
reading labels written up to then, and writes the reports under
`{output}/model-quality/{endpoint}/{variant}/YYYY/MM/DD/HH/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.errors import ConfigError
from analyzer.results.problem import PROBLEM_TYPES

KEY = "model_quality"
_REQUIRED = ("ground_truth", "baseline_constraints", "problem_type")
_OPTIONAL = (
    "inference_attribute",
    "probability_attribute",
    "probability_threshold",
    "label_delay",
    "baseline_statistics",
)


@dataclass(frozen=True, slots=True)
class QualityConfig:
    ground_truth: str
    baseline_constraints: str
    problem_type: str
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float = 0.5
    label_delay_hours: int = 24
    baseline_statistics: str | None = None


def parse_quality(raw: Any, where: str, source: str) -> QualityConfig:
    """Validate one `model_quality` mapping; ConfigError names the key and the fix."""
    place = f"{source}: {where}.{KEY}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{place}: must be a mapping with {', '.join(_REQUIRED)}")
    unknown = sorted(set(raw) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise ConfigError(
            f"{place}.{unknown[0]}: unknown key; known keys are "
            f"{', '.join(sorted({*_REQUIRED, *_OPTIONAL}))}"
        )
    for key in _REQUIRED:
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{place}.{key}: missing; add it as a string")
    if raw["problem_type"] not in PROBLEM_TYPES:
        raise ConfigError(f"{place}.problem_type: must be one of {', '.join(PROBLEM_TYPES)}")
    delay = raw.get("label_delay", 24)
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 24 * 30:
        raise ConfigError(f"{place}.label_delay: must be whole hours from 0 to 720, got {delay!r}")
    threshold = raw.get("probability_threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ConfigError(f"{place}.probability_threshold: must be a number, got {threshold!r}")

    def text(key: str) -> str | None:
        value = raw.get(key)
        return None if value is None else str(value)

    return QualityConfig(
        ground_truth=raw["ground_truth"],
        baseline_constraints=raw["baseline_constraints"],
        problem_type=raw["problem_type"],
        inference_attribute=text("inference_attribute"),
        probability_attribute=text("probability_attribute"),
        probability_threshold=float(threshold),
        label_delay_hours=delay,
        baseline_statistics=text("baseline_statistics"),
    )
