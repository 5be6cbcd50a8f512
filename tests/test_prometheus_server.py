"""The real-Prometheus test harness itself: rule files, alerts and query errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.prometheus_server import PrometheusQueryError, PrometheusServer


def test_rules_are_evaluated_and_alerts_fire(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n"
        "  - name: harness\n"
        "    rules:\n"
        "      - record: harness:answer\n"
        "        expr: vector(42)\n"
        "      - alert: AlwaysFiring\n"
        "        expr: vector(1) > 0\n"
        "        labels: {severity: info}\n"
    )
    with PrometheusServer(tmp_path / "prometheus", rule_files=[rules]) as prometheus:
        assert prometheus.pid is not None
        answer = prometheus.wait_for("harness:answer", timeout=20)
        assert float(answer[0]["value"][1]) == 42
        prometheus.wait_for('ALERTS{alertname="AlwaysFiring",alertstate="firing"}', timeout=20)
        assert [a["labels"]["alertname"] for a in prometheus.alerts()] == ["AlwaysFiring"]
        assert prometheus.rules()[0]["name"] == "harness"
        with pytest.raises(PrometheusQueryError, match="bad_data"):
            prometheus.query("sum(")
    assert prometheus.process is None
