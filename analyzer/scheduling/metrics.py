"""Every analyzer metric, defined in one place (DESIGN.md section 6), in a registry per instance.

Per-feature series carry only the baseline's feature names (columns only traffic brings are
extra_column_check violations, not series); series of features that vanish from a later run are
removed. `infertap_execution_status` has a series per status, Stopped included.

`infertap_feature_baseline_drift` is the very number baseline_drift_check compares with the
baseline's threshold: the L-infinity distance after `comparison_method`, i.e. the Robust-adjusted
distance when the constraints say Robust (SageMaker's default), the raw one when Simple. So an
alert `infertap_feature_baseline_drift > 0.1` (the default comparison_threshold and
categorical_comparison_threshold) fires for exactly the features with a baseline_drift_check
violation. The raw L-infinity distance is not exported: with a few hundred records it is mostly
sampling noise, which is what Robust discounts. String features compared with ChiSquared give a
p-value (small means drift), exported as `infertap_feature_baseline_drift_p_value` instead.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from analyzer.reporting.baseline_files import Statistics
from analyzer.reporting.execution import ExecutionResult
from analyzer.results.status import FAILED, FINISHED, STATUSES
from analyzer.results.violations import CHECK_TYPES
from analyzer.scheduling.clarify_metrics import ClarifyMetrics
from analyzer.scheduling.quality_metrics import QualityMetrics

# One run reads an hour of captures: seconds for a quiet endpoint, many minutes for a busy one.
RUN_DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0)
_ENDPOINT = ("endpoint", "variant")
_FEATURE = ("endpoint", "variant", "feature")


class AnalyzerMetrics:
    """The scheduler's metrics; `update_from` turns one monitoring run into series."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._define_feature_series()
        self._define_run_series()
        self._features: dict[tuple[str, str], set[str]] = {}
        self.quality = QualityMetrics(self.registry)  # model quality (quality_metrics.py)
        self.clarify = ClarifyMetrics(self.registry)  # bias, attribution (clarify_metrics.py)

    def _define_feature_series(self) -> None:
        """Per endpoint, variant and feature: what the last analysed window looked like."""

        def feature_gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, _FEATURE, registry=self.registry)

        self.feature_drift = feature_gauge(
            "infertap_feature_baseline_drift",
            "What baseline_drift_check compared with its threshold in the last analysed "
            "window: the L-infinity distance to the baseline between CDFs (numeric) or "
            "frequencies (categorical), Robust-adjusted when the baseline's comparison_method "
            "is Robust; 0 to 1.",
        )
        self.feature_drift_p_value = feature_gauge(
            "infertap_feature_baseline_drift_p_value",
            "Chi-squared test p-value of a string feature against the baseline, when the "
            "baseline's categorical_drift_method is ChiSquared (below the threshold: drift).",
        )
        self.feature_completeness = feature_gauge(
            "infertap_feature_completeness",
            "Share of analysed records in which the feature is present (0 to 1).",
        )
        self.feature_mean = feature_gauge(
            "infertap_feature_mean", "Mean of a numeric feature in the window."
        )
        self.feature_stddev = feature_gauge(
            "infertap_feature_stddev",
            "Population standard deviation of a numeric feature in the window.",
        )
        self.feature_min = feature_gauge(
            "infertap_feature_min", "Smallest value of a numeric feature."
        )
        self.feature_max = feature_gauge(
            "infertap_feature_max", "Largest value of a numeric feature."
        )
        self.feature_distinct = feature_gauge(
            "infertap_feature_distinct_values",
            "Estimated number of distinct values of a string feature in the window.",
        )

    def _define_run_series(self) -> None:
        """Per endpoint and variant: how the monitoring runs went."""
        r = self.registry
        self.violations = Gauge(
            "infertap_violations",
            "Constraint violations found by the last run, by constraint check type.",
            (*_ENDPOINT, "check"),
            registry=r,
        )
        self.execution_status = Gauge(
            "infertap_execution_status",
            "1 for the status of the last monitoring run, 0 for the other statuses.",
            (*_ENDPOINT, "status"),
            registry=r,
        )
        self.last_execution = Gauge(
            "infertap_last_execution_timestamp_seconds",
            "When the last monitoring run finished (Unix time), whatever its status.",
            _ENDPOINT,
            registry=r,
        )
        self.last_success = Gauge(
            "infertap_last_successful_execution_timestamp_seconds",
            "When the last run that Completed (with or without violations) finished (Unix time).",
            _ENDPOINT,
            registry=r,
        )
        self.window_end = Gauge(
            "infertap_monitoring_window_end_timestamp_seconds",
            "End of the newest capture window analysed to completion (Unix time).",
            _ENDPOINT,
            registry=r,
        )
        self.records_analyzed = Counter(
            "infertap_records_analyzed",
            "Capture records analysed by monitoring runs.",
            _ENDPOINT,
            registry=r,
        )
        self.runs = Counter(
            "infertap_monitoring_runs",
            "Monitoring runs finished, by status.",
            (*_ENDPOINT, "status"),
            registry=r,
        )
        self.run_duration = Histogram(
            "infertap_monitoring_run_duration_seconds",
            "Wall time of one monitoring run.",
            _ENDPOINT,
            buckets=RUN_DURATION_BUCKETS,
            registry=r,
        )
        self.pending_runs = Gauge(
            "infertap_monitoring_pending_runs",
            "Hours that are due for monitoring and not yet analysed.",
            _ENDPOINT,
            registry=r,
        )

    def register_endpoint(self, endpoint: str, variant: str) -> None:
        """Export an endpoint's counters and status series (as 0) before its first run."""
        for status in STATUSES:
            self.runs.labels(endpoint, variant, status)
            self.execution_status.labels(endpoint, variant, status).set(0)
        self.records_analyzed.labels(endpoint, variant)
        self.run_duration.labels(endpoint, variant)
        self.pending_runs.labels(endpoint, variant).set(0)

    def update_from(
        self,
        result: ExecutionResult,
        endpoint: str,
        variant: str,
        *,
        finished_at: float | None = None,
    ) -> None:
        """Record one finished run of `endpoint`/`variant` (`finished_at`: Unix time, default now).

        Per-feature series come from `result.statistics`, `result.feature_drift` and
        `result.feature_p_value`, for the baseline's features only; a run that produced no
        statistics (Failed, Stopped) leaves the previous run's feature series in place.
        """
        status = result.status if result.status in STATUSES else FAILED
        self.runs.labels(endpoint, variant, status).inc()
        if result.records_analyzed > 0:
            self.records_analyzed.labels(endpoint, variant).inc(result.records_analyzed)
        self.run_duration.labels(endpoint, variant).observe(result.duration_seconds)
        finished = time.time() if finished_at is None else finished_at
        self._show(result, endpoint, variant, finished)

    def restore(
        self, result: ExecutionResult, statistics: Statistics | None, endpoint: str, variant: str
    ) -> None:
        """Show a run finished before this process started (its execution.json and statistics).

        Gauges only: counters count this process's runs.
        """
        result.statistics = statistics
        finished = result.finished_at.timestamp() if result.finished_at is not None else None
        self._show(result, endpoint, variant, finished)

    def _show(
        self, result: ExecutionResult, endpoint: str, variant: str, finished: float | None
    ) -> None:
        """The gauges of a run's outcome, and its feature series when it has statistics."""
        status = result.status if result.status in STATUSES else FAILED
        succeeded = status in FINISHED
        for name in STATUSES:
            self.execution_status.labels(endpoint, variant, name).set(int(name == status))
        if finished is not None:
            self.last_execution.labels(endpoint, variant).set(finished)
            if succeeded:
                self.last_success.labels(endpoint, variant).set(finished)
        if succeeded and result.end is not None:
            self.window_end.labels(endpoint, variant).set(result.end.timestamp())
        by_check = result.violations_by_check
        for check in (*CHECK_TYPES, *sorted(set(by_check) - set(CHECK_TYPES))):
            self.violations.labels(endpoint, variant, check).set(by_check.get(check, 0))
        if result.statistics is not None:
            self._set_features(endpoint, variant, result)

    def set_pending(self, endpoint: str, variant: str, hours: int) -> None:
        self.pending_runs.labels(endpoint, variant).set(hours)

    def _set_features(self, endpoint: str, variant: str, result: ExecutionResult) -> None:
        """Series of the baseline's features only: new columns are extra_column_check
        violations, not series, so traffic cannot create series (`c.0` … `c.N`)."""
        assert result.statistics is not None
        baseline = set(result.baseline_features)
        seen: set[str] = set()
        for feature in result.statistics.features:
            name = feature.name
            if name not in baseline:
                continue
            seen.add(name)
            labels = (endpoint, variant, name)
            total = feature.num_present + feature.num_missing
            _set(self.feature_completeness, labels, feature.num_present / total if total else None)
            _set(self.feature_mean, labels, feature.mean)
            _set(self.feature_stddev, labels, feature.std_dev)
            _set(self.feature_min, labels, feature.min)
            _set(self.feature_max, labels, feature.max)
            _set(self.feature_distinct, labels, feature.distinct_count)
            _set(self.feature_drift, labels, result.feature_drift.get(name))
            _set(self.feature_drift_p_value, labels, result.feature_p_value.get(name))
        stale = self._features.get((endpoint, variant), set()) - seen
        self._remove_features(endpoint, variant, stale)
        self._features[(endpoint, variant)] = seen

    def _remove_features(self, endpoint: str, variant: str, names: Iterable[str]) -> None:
        gauges = (
            self.feature_drift,
            self.feature_drift_p_value,
            self.feature_completeness,
            self.feature_mean,
            self.feature_stddev,
            self.feature_min,
            self.feature_max,
            self.feature_distinct,
        )
        for name in names:
            for gauge in gauges:
                _set(gauge, (endpoint, variant, name), None)


def _set(gauge: Gauge, labels: tuple[str, str, str], value: float | int | None) -> None:
    """Set a series, or remove it when the run has no (finite) value for it."""
    if value is None or not math.isfinite(value):
        with contextlib.suppress(KeyError):  # The series was never exported.
            gauge.remove(*labels)
        return
    gauge.labels(*labels).set(value)
