"""deploy/prometheus and deploy/grafana: promtool checks and unit tests of the alert rules, the
scrape configuration, and every dashboard query parsed by a real Prometheus."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.observability import (
    PROMETHEUS_DIR,
    PROMTOOL,
    RULES,
    RULES_TEST,
    SCRAPE_CONFIG,
    alert_rules,
    exported_metric_names,
    load_dashboard,
    metric_names,
    panel_queries,
    panels,
    substitute,
    variable_selectors,
)
from tests.prometheus_server import PrometheusQueryError, PrometheusServer


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULES_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    document = yaml.safe_load(RULES_TEST.read_text())
    assert document["rule_files"] == [RULES.name]
    for rule in alert_rules():
        cases = [
            (case, check)
            for case in document["tests"]
            for check in case.get("alert_rule_test", [])
            if check["alertname"] == rule["alert"]
        ]
        firing = [(c, k) for c, k in cases if k["exp_alerts"]]
        assert firing, f"{rule['alert']}: no test where it fires"
        # Quiet too: an evaluation expecting nothing, or series that must not alert.
        assert any(
            not k["exp_alerts"] or len(c["input_series"]) > len(k["exp_alerts"]) for c, k in cases
        ), f"{rule['alert']}: no test where it stays quiet"


def test_rules_describe_what_to_do_and_use_exported_metrics() -> None:
    exported = exported_metric_names() | {"up"}
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert len(rule["annotations"]["description"]) > 150, f"{rule['alert']}: say what to do"
        unknown = metric_names(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} uses metrics nobody exports: {unknown}"
    expressions = {rule["alert"]: " ".join(rule["expr"].split()) for rule in alert_rules()}
    assert "infertap_feature_baseline_drift > 0.1" in expressions["InfertapFeatureDrift"]
    dropped = expressions["InfertapCaptureRecordsDropped"]
    assert 'outcome!~"captured|not_sampled|client_disconnected"' in dropped
    assert (
        'infertap_execution_status{status="Failed"} == 1'
        in (expressions["InfertapMonitoringRunFailed"])
    )


def test_scrape_config_passes_promtool(tmp_path: Path) -> None:
    """`promtool check config prometheus.yml`. Debian's Prometheus build leaves Kubernetes service
    discovery out; with such a promtool the file is also checked with that discovery swapped for
    file discovery (everything else, relabelling included, unchanged)."""
    result = promtool("check", "config", SCRAPE_CONFIG.name)
    if result.returncode == 0:
        assert "SUCCESS" in result.stdout + result.stderr
        return
    output = result.stdout + result.stderr
    assert "field kubernetes_sd_configs not found" in output, output
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    for job in config["scrape_configs"]:
        for sd in job.pop("kubernetes_sd_configs"):
            assert sd["role"] in ("pod", "service", "endpoints", "endpointslice", "node")
            assert set(sd) <= {"role", "namespaces", "selectors", "api_server", "kubeconfig_file"}
        job["file_sd_configs"] = [{"files": ["targets.json"]}]
    (tmp_path / "targets.json").write_text("[]")
    shutil.copy(RULES, tmp_path / RULES.name)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    swapped = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert swapped.returncode == 0, swapped.stdout + swapped.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in swapped.stdout


def test_dashboard_covers_the_requested_views() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "infertap"
    all_panels = list(panels(dashboard))
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "pod", "endpoint", "variant"} <= variables
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
            assert panel.get("description"), panel["title"]
    used = set().union(*(metric_names(expr) for _, expr in panel_queries(dashboard)))
    exported = exported_metric_names()
    assert used <= exported, used - exported
    # Request rate and latency, capture health, drift, violations, execution status and time.
    for metric in (
        "infertap_requests_total",
        "infertap_request_duration_seconds_bucket",
        "infertap_capture_records_total",
        "infertap_capture_queue_bytes",
        "infertap_spool_bytes",
        "infertap_spool_files",
        "infertap_uploads_total",
        "infertap_feature_baseline_drift",
        "infertap_violations",
        "infertap_execution_status",
        "infertap_last_execution_timestamp_seconds",
    ):
        assert metric in used, metric
    latency = " ".join(expr for title, expr in panel_queries(dashboard) if "Latency" in title)
    assert "histogram_quantile(0.5," in latency and "histogram_quantile(0.99," in latency


def test_every_dashboard_query_parses_in_prometheus(
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    prometheus = prometheus_factory()
    with pytest.raises(PrometheusQueryError):  # the check below would catch a broken query
        prometheus.query("sum by (le (rate(infertap_requests_total[1m]))")
    dashboard = load_dashboard()
    queries: list[tuple[str, Any]] = [*panel_queries(dashboard), *variable_selectors(dashboard)]
    assert len(queries) > 15
    for title, expr in queries:
        try:
            prometheus.query(substitute(expr))
        except PrometheusQueryError as exc:
            raise AssertionError(f"panel {title!r}: {expr}\n{exc}") from None
