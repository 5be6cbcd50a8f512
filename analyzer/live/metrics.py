"""The live metrics (DESIGN.md section 13), in a registry of their own.

Per-feature series carry the baseline's feature names only, so labels stay bounded whatever the
traffic brings. `infertap_live_feature_baseline_drift` is the whole window's distance as the
check compares it (Robust-adjusted when the baseline says Robust). Below --min-records nothing is
checked: the violation gauges read 0 and `infertap_live_window_records` says why.
`infertap_live_lag_seconds` is computed when scraped (now minus the newest inferenceTime read),
so it keeps growing when captures stop or the watcher is stuck.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from analyzer.live.evaluation import LiveEvaluation
from analyzer.results.violations import CHECK_TYPES

_ENDPOINT = ("endpoint", "variant")
FILE_OUTCOMES = ("read", "unreadable", "late")
RECORD_OUTCOMES = ("window", "late", "future", "no_time")


class LiveMetrics:
    """Every live series; `publish` turns one evaluation into them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.drift = Gauge(
            "infertap_live_feature_baseline_drift",
            "What baseline_drift_check compares with its threshold, over the live window (the "
            "larger of the whole window's and its newest third's).",
            (*_ENDPOINT, "feature"),
            registry=r,
        )
        self.completeness = Gauge(
            "infertap_live_feature_completeness",
            "Share of the live window's records in which the feature is present (0 to 1).",
            (*_ENDPOINT, "feature"),
            registry=r,
        )
        self.violations = Gauge(
            "infertap_live_violations",
            "Live violations of the last evaluation, by check (0 below --min-records).",
            (*_ENDPOINT, "check"),
            registry=r,
        )
        self.window_records = Gauge(
            "infertap_live_window_records",
            "Records analysed in the live window at the last evaluation.",
            _ENDPOINT,
            registry=r,
        )
        self.evaluated_at = Gauge(
            "infertap_live_evaluation_timestamp_seconds",
            "End of the window of the last live evaluation (Unix time).",
            _ENDPOINT,
            registry=r,
        )
        self.lag = Gauge(
            "infertap_live_lag_seconds",
            "Now minus the newest inferenceTime read (since the start when none was read).",
            _ENDPOINT,
            registry=r,
        )
        self._define_counters()
        self._features: dict[tuple[str, str], set[str]] = {}

    def _define_counters(self) -> None:
        r = self.registry
        self.files = Counter(
            "infertap_live_files",
            "Capture files by outcome: read, unreadable, or late (records older than the window).",
            (*_ENDPOINT, "outcome"),
            registry=r,
        )
        self.records = Counter(
            "infertap_live_records",
            "Capture records by where they went: the window, late, future (ahead of the clock, "
            "kept out of the window) or no_time (no readable inferenceTime).",
            (*_ENDPOINT, "outcome"),
            registry=r,
        )
        self.errors = Counter(
            "infertap_live_errors",
            "Polls or evaluations that failed, by reason (listing, baseline).",
            (*_ENDPOINT, "reason"),
            registry=r,
        )
        self.estimated = Gauge(
            "infertap_live_estimated_metric",
            "CBPE estimate of a binary model-quality metric over the live window (no labels).",
            (*_ENDPOINT, "metric"),
            registry=r,
        )

    def start(self, endpoint: str, variant: str, newest: Mapping[str, float]) -> None:
        """Create the endpoint's series; lag reads `newest["time"]` when scraped."""
        for outcome in FILE_OUTCOMES:
            self.files.labels(endpoint, variant, outcome)
        for outcome in RECORD_OUTCOMES:
            self.records.labels(endpoint, variant, outcome)
        for check in CHECK_TYPES:
            self.violations.labels(endpoint, variant, check).set(0)
        self.lag.labels(endpoint, variant).set_function(lambda: time.time() - newest["time"])

    def publish(
        self, endpoint: str, variant: str, evaluation: LiveEvaluation, baseline: Iterable[str]
    ) -> None:
        """One evaluation into the gauges; per-feature series for `baseline` features only."""
        labels = (endpoint, variant)
        self.window_records.labels(*labels).set(evaluation.records)
        self.evaluated_at.labels(*labels).set(evaluation.end)
        by_check = {check: 0 for check in CHECK_TYPES}
        for violation in evaluation.violations:
            by_check[violation.constraint_check_type] = (
                by_check.get(violation.constraint_check_type, 0) + 1
            )
        for check, count in by_check.items():
            self.violations.labels(*labels, check).set(count)
        for metric, value in evaluation.estimates.items():
            self.estimated.labels(*labels, metric).set(value)
        checked = evaluation.checked
        if checked is None:
            return
        features = set(evaluation.drift)
        for name, value in evaluation.drift.items():
            self.drift.labels(*labels, name).set(value)
        known = set(baseline)
        for feature in checked.statistics.features:
            if feature.name in known:
                self.completeness.labels(*labels, feature.name).set(feature.completeness)
                features.add(feature.name)
        self._forget(labels, features)

    def _forget(self, labels: tuple[str, str], features: set[str]) -> None:
        """Remove the series of features the last evaluation no longer had."""
        before = self._features.get(labels, set())
        for name in before - features:
            for gauge in (self.drift, self.completeness):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels, name)
        self._features[labels] = features
