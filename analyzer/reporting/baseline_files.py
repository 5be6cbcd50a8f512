"""The baseline's files: reading and writing statistics.json and constraints.json (whose
dataclasses are analyzer.profiling.statistics' and analyzer.results.constraints', re-exported here).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from analyzer.errors import AnalyzerError, BaselineError
from analyzer.profiling.kll import KLL_C, KLL_K, KllBucket
from analyzer.profiling.statistics import CategoricalBucket, FeatureStatistics, Statistics
from analyzer.profiling.types import (
    FRACTIONAL,
    INFERRED_TYPES,
    INTEGRAL,
    NUMERIC_TYPES,
    STRING,
    UNKNOWN,
)
from analyzer.reading import storage
from analyzer.reporting.json_text import pretty_json
from analyzer.results.constraints import (
    CATEGORICAL_DRIFT_METHODS,
    COMPARISON_METHODS,
    DISABLED,
    ENABLED,
    Constraints,
    FeatureConstraint,
    MonitoringConfig,
)


def to_bytes(document: Statistics | Constraints) -> bytes:
    """Pretty-printed JSON, 2-space indent, as in SageMaker's statistics files."""
    return pretty_json(document.to_json())


def load_statistics(url: str) -> Statistics:
    """Read a statistics.json (ours or SageMaker's) from a path or s3:// URL."""
    try:
        return Statistics.from_json(_load_json(url, "statistics"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"{url} is not a valid statistics.json: {exc}") from exc


def load_constraints(url: str) -> Constraints:
    """Read a constraints.json (ours or SageMaker's) from a path or s3:// URL."""
    try:
        return Constraints.from_json(_load_json(url, "constraints"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"{url} is not a valid constraints.json: {exc}") from exc


def dump_statistics(stats: Statistics, url: str) -> None:
    storage.write_bytes(url, to_bytes(stats))


def dump_constraints(constraints: Constraints, url: str) -> None:
    storage.write_bytes(url, to_bytes(constraints))


def _load_json(url: str, what: str) -> Any:
    try:
        data = storage.read_bytes(url)
    except AnalyzerError as exc:
        raise BaselineError(f"cannot read the baseline {what} file: {exc}") from exc
    try:
        return json.loads(data)
    except ValueError as exc:
        raise BaselineError(f"{url} is not JSON ({exc}); expected a {what}.json") from exc


__all__: Sequence[str] = (
    "CATEGORICAL_DRIFT_METHODS",
    "COMPARISON_METHODS",
    "DISABLED",
    "ENABLED",
    "FRACTIONAL",
    "INFERRED_TYPES",
    "INTEGRAL",
    "KLL_C",
    "KLL_K",
    "NUMERIC_TYPES",
    "STRING",
    "UNKNOWN",
    "CategoricalBucket",
    "Constraints",
    "FeatureConstraint",
    "FeatureStatistics",
    "KllBucket",
    "MonitoringConfig",
    "Statistics",
    "dump_constraints",
    "dump_statistics",
    "load_constraints",
    "load_statistics",
    "to_bytes",
)
