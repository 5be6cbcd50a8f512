"""The scheduler's bias and feature attribution series (DESIGN.md section 14).

Label values are bounded: facets and their configured values (or categories), Clarify's metric
names, the analysed features and the model's output labels.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Gauge

from analyzer.clarify import attribution, bias
from analyzer.clarify.config import AnalysisConfig
from analyzer.clarify.drift import keyed
from analyzer.clarify.record import ClarifyResult
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED

_ENDPOINT = ("endpoint", "variant")
STATUSES = (COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED)
STAGES = {bias.PRE_TRAINING_KEY: "pre_training", bias.POST_TRAINING_KEY: "post_training"}


class ClarifyMetrics:
    """Gauges of the newest bias and attribution runs of each endpoint variant."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, text: str, labels: tuple[str, ...]) -> Gauge:
            return Gauge(name, text, labels, registry=registry)

        self.bias = gauge(
            "infertap_bias_metric",
            "Clarify bias metric of the newest bias run (NaN when undefined in the window).",
            (*_ENDPOINT, "facet", "facet_value", "stage", "metric"),
        )
        self.bias_violations = gauge(
            "infertap_bias_violations", "bias_drift_check violations of the newest run.", _ENDPOINT
        )
        self.bias_status = gauge(
            "infertap_bias_execution_status",
            "1 for the status of the newest bias run, 0 for the others.",
            (*_ENDPOINT, "status"),
        )
        self.attribution = gauge(
            "infertap_feature_attribution",
            "Global SHAP value of a feature in the newest attribution run.",
            (*_ENDPOINT, "label", "feature"),
        )
        self.ndcg = gauge(
            "infertap_feature_attribution_ndcg",
            "nDCG of the newest run's feature ranking against the baseline's (below 0.9: drift).",
            (*_ENDPOINT, "label"),
        )
        self.attribution_violations = gauge(
            "infertap_feature_attribution_violations",
            "feature_attribution_drift_check violations of the newest run.",
            _ENDPOINT,
        )
        self.attribution_status = gauge(
            "infertap_feature_attribution_execution_status",
            "1 for the status of the newest attribution run, 0 for the others.",
            (*_ENDPOINT, "status"),
        )
        self._bias_keys: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}

    def update_bias(
        self, result: ClarifyResult, config: AnalysisConfig | None, endpoint: str, variant: str
    ) -> None:
        for status in STATUSES:
            self.bias_status.labels(endpoint, variant, status).set(int(status == result.status))
        if result.analysis is None or config is None:
            return  # keep the previous run's values; the status says this one failed
        found: dict[tuple[str, str, str, str], float] = {}
        for key, stage in STAGES.items():
            for (facet, value, metric), number in keyed(config, result.analysis.get(key)).items():
                found[(facet, value, stage, metric)] = number
        for stale in self._bias_keys.get((endpoint, variant), set()) - set(found):
            with contextlib.suppress(KeyError):
                self.bias.remove(endpoint, variant, *stale)
        self._bias_keys[(endpoint, variant)] = set(found)
        for labels, number in found.items():
            self.bias.labels(endpoint, variant, *labels).set(number)
        self.bias_violations.labels(endpoint, variant).set(len(result.violations))

    def update_attribution(
        self, result: ClarifyResult, label: str, endpoint: str, variant: str
    ) -> None:
        for status in STATUSES:
            self.attribution_status.labels(endpoint, variant, status).set(
                int(status == result.status)
            )
        if result.analysis is None or result.status == FAILED:
            return
        for feature, value in attribution.global_values(result.analysis, label).items():
            self.attribution.labels(endpoint, variant, label, feature).set(value)
        for name, score in result.details.get("ndcg", {}).items():
            self.ndcg.labels(endpoint, variant, name).set(score)
        self.attribution_violations.labels(endpoint, variant).set(len(result.violations))
