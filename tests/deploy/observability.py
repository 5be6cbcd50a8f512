"""Helpers for the Prometheus and Grafana files in deploy/: the dashboard's queries, the metric
names our programs export, and deploy/prometheus/prometheus.yml made runnable on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from analyzer.live.metrics import LiveMetrics
from analyzer.scheduling.metrics import AnalyzerMetrics
from sidecar.metrics import SidecarMetrics
from tests.deploy.k8s import DEPLOY

PROMETHEUS_DIR = DEPLOY / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"
SCRAPE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "infertap-dashboard.json"
PROMTOOL = "/usr/bin/promtool"
_METRIC = re.compile(r"\binfertap_[a-z0-9_]+\b")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)$")


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def panel_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variable_selectors(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(variable name, the series selector inside its label_values(...) query)."""
    out = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = (
            variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        )
        match = _LABEL_VALUES.match(query.strip())
        assert match, f"variable {variable['name']}: expected label_values(...), got {query}"
        if match.group(1):
            out.append((variable["name"], match.group(1)))
    return out


def substitute(expr: str, rate_interval: str = "1m", range_: str = "1h") -> str:
    """Grafana's macros and `All` variable values, as Grafana sends the query."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    return re.sub(r"\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?", ".*", expr)


def metric_names(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


def _exported(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count", "_created")}
        else:
            names.add(family.name)
    return names


def exported_metric_names() -> set[str]:
    """Every series name the sidecar and the analyzer expose (from their metric definitions)."""
    return (
        _exported(SidecarMetrics().registry)
        | _exported(AnalyzerMetrics().registry)
        | _exported(LiveMetrics().registry)
    )


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def local_scrape_jobs(
    targets_file: Path, interval: str = "1s", only: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """prometheus.yml's jobs with Kubernetes discovery swapped for a file (targets carrying the
    `__meta_kubernetes_*` labels a pod would have), so its relabelling runs unchanged."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    jobs = []
    for job in config["scrape_configs"]:
        if only and job["job_name"] not in only:
            continue
        job = copy.deepcopy(job)
        assert job.pop("kubernetes_sd_configs", None), job["job_name"]
        job["file_sd_configs"] = [{"files": [str(targets_file)], "refresh_interval": "1s"}]
        job["scrape_interval"] = job["scrape_timeout"] = interval
        jobs.append(job)
    return jobs


def pod_targets(
    address: str,
    *,
    namespace: str,
    pod: str,
    container: str,
    port_name: str,
    annotations: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """One file_sd entry as Kubernetes pod discovery describes one declared container port."""
    meta = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": pod,
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_container_name": container,
        "__meta_kubernetes_pod_container_port_name": port_name,
    }
    for key, value in annotations.items():
        meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
    for key, value in labels.items():
        meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
    return {"targets": [address], "labels": meta}
