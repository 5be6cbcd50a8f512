"""The scheduler's model-quality series (DESIGN.md section 9), beside the drift ones.

`metric` labels are SageMaker's scalar metric names (about 20 per problem type) and, for the
CBPE estimates, `estimated_<name>`: bounded.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Gauge

from analyzer.reporting.quality_record import QualityResult
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED

_ENDPOINT = ("endpoint", "variant")
_METRIC = ("endpoint", "variant", "metric")
STATUSES = (COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED)  # a model-quality run never stops


class QualityMetrics:
    """Gauges of the newest model-quality run of each endpoint variant."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.metric = Gauge(
            "infertap_model_quality_metric",
            "Model-quality metric of the newest run (SageMaker's names; estimated_* are CBPE "
            "estimates from scores alone).",
            _METRIC,
            registry=registry,
        )
        self.threshold = Gauge(
            "infertap_model_quality_metric_threshold",
            "The baseline constraint's threshold of a model-quality metric.",
            _METRIC,
            registry=registry,
        )
        self.coverage = Gauge(
            "infertap_model_quality_label_coverage_ratio",
            "Joined captures / captures with a prediction in the newest run (0 to 1).",
            _ENDPOINT,
            registry=registry,
        )
        self.delay = Gauge(
            "infertap_model_quality_label_delay_seconds",
            "Mean time from a capture's hour to the hour its label was written.",
            _ENDPOINT,
            registry=registry,
        )
        self.violations = Gauge(
            "infertap_model_quality_violations",
            "Model-quality constraint violations of the newest run.",
            _ENDPOINT,
            registry=registry,
        )
        self.status = Gauge(
            "infertap_model_quality_execution_status",
            "1 for the status of the newest model-quality run, 0 for the others.",
            (*_ENDPOINT, "status"),
            registry=registry,
        )
        self._names: dict[tuple[str, str], set[str]] = {}

    def update(self, result: QualityResult, endpoint: str, variant: str) -> None:
        """Show one finished model-quality run."""
        for status in STATUSES:
            self.status.labels(endpoint, variant, status).set(int(status == result.status))
        if result.status == FAILED and result.statistics is None:
            return  # keep the previous run's metrics; the status says this one failed
        values = dict(result.metric_values)
        for name, entry in (result.estimated or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("value"), float):
                values[f"estimated_{name}"] = entry["value"]
        stale = self._names.get((endpoint, variant), set()) - set(values)
        for name in stale:
            for gauge in (self.metric, self.threshold):
                with contextlib.suppress(KeyError):
                    gauge.remove(endpoint, variant, name)
        self._names[(endpoint, variant)] = set(values)
        for name, value in values.items():
            self.metric.labels(endpoint, variant, name).set(value)
        for name, value in result.thresholds.items():
            self.threshold.labels(endpoint, variant, name).set(value)
        coverage = result.counts.label_coverage
        if coverage is not None:
            self.coverage.labels(endpoint, variant).set(coverage)
        if result.label_delay_seconds is not None:
            self.delay.labels(endpoint, variant).set(result.label_delay_seconds[0])
        self.violations.labels(endpoint, variant).set(len(result.violations))
