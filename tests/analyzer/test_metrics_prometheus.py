"""The analyzer's metrics: exposition checked by promtool, scraped by a real Prometheus."""

from __future__ import annotations

import json
import math
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import ks_2samp

from analyzer.reporting.baseline_files import FeatureStatistics, Statistics
from analyzer.reporting.execution import ExecutionResult
from analyzer.results.status import Status
from analyzer.results.violations import CHECK_TYPES, Violation
from analyzer.scheduling.metrics import AnalyzerMetrics
from analyzer.scheduling.metrics_server import MetricsServer
from analyzer.scheduling.planning import latest_due_hour
from tests.analyzer.monitoring_data import (
    DRIFTED_X,
    ENDPOINT,
    TRAIN_X,
    VARIANT,
    make_baseline,
    stable_delay,
    start_scheduler,
    write_captures,
    write_config,
)
from tests.conftest import free_port, port_open, wait_until
from tests.prometheus_server import (
    PrometheusServer,
    prometheus_factory,  # noqa: F401  (pytest fixture)
)

StartPrometheus = Callable[..., PrometheusServer]

PROMTOOL = "/usr/bin/promtool"
HOUR_START = datetime(2026, 11, 25, 8, tzinfo=UTC)


def samples(metrics: AnalyzerMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset({"endpoint": "churn", "variant": "AllTraffic", **pairs}.items())


def statistics(*names: str) -> Statistics:
    features = []
    for name in names:
        if name == "city":
            features.append(
                FeatureStatistics(
                    name="city", inferred_type="String", num_present=8, num_missing=2,
                    distinct_count=3.0,
                )
            )  # fmt: skip
        else:
            features.append(
                FeatureStatistics(
                    name=name, inferred_type="Fractional", num_present=10, num_missing=0,
                    mean=1.5, sum=15.0, std_dev=0.5, min=1.0, max=2.0,
                )
            )  # fmt: skip
    return Statistics(item_count=10, features=features)


def result(
    status: str,
    *names: str,
    drift: dict[str, float] | None = None,
    p_values: dict[str, float] | None = None,
) -> ExecutionResult:
    violations = []
    if status == "CompletedWithViolations":
        violations = [
            Violation("age", "baseline_drift_check", "Baseline drift distance: 0.42 exceeds 0.1"),
            Violation("city", "completeness_check", "Completeness 0.8 below 1.0"),
            Violation("income", "baseline_drift_check", "Baseline drift distance: 0.2"),
        ]
    return ExecutionResult(
        status=Status(status),
        message=f"{status}: test",
        failure_reason="no data" if status == "Failed" else None,
        records_analyzed=0 if status == "Failed" else 10,
        statistics=None if status == "Failed" else statistics(*names),
        violations=violations,
        feature_drift=drift or {},
        feature_p_value=p_values or {},
        baseline_features=list(names),
        start=HOUR_START,
        end=HOUR_START + timedelta(hours=1),
        duration_seconds=0.25,
    )


def test_exposition_passes_promtool_and_carries_each_run() -> None:
    metrics = AnalyzerMetrics()
    metrics.register_endpoint("churn", "AllTraffic")
    run = result(
        "CompletedWithViolations", "age", "income", "city",
        drift={"age": 0.42, "income": 0.2, "city": 0.05},
    )  # fmt: skip
    metrics.update_from(run, "churn", "AllTraffic", finished_at=1_800_000_000.0)
    text = generate_latest(metrics.registry)
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout == b"" and check.stderr == b""  # No lint warnings either.

    seen = samples(metrics)
    assert seen[("infertap_feature_baseline_drift", labels(feature="age"))] == 0.42
    assert seen[("infertap_feature_baseline_drift", labels(feature="city"))] == 0.05
    assert seen[("infertap_feature_completeness", labels(feature="city"))] == 0.8
    assert seen[("infertap_feature_mean", labels(feature="income"))] == 1.5
    assert seen[("infertap_feature_stddev", labels(feature="income"))] == 0.5
    assert seen[("infertap_feature_distinct_values", labels(feature="city"))] == 3.0
    # Numeric-only statistics are absent for a string feature, not zero.
    assert ("infertap_feature_mean", labels(feature="city")) not in seen
    violations = {c: seen[("infertap_violations", labels(check=c))] for c in CHECK_TYPES}
    assert violations == {**dict.fromkeys(CHECK_TYPES, 0.0), "baseline_drift_check": 2.0,
                          "completeness_check": 1.0}  # fmt: skip
    assert seen[("infertap_execution_status", labels(status="CompletedWithViolations"))] == 1
    assert seen[("infertap_execution_status", labels(status="Completed"))] == 0
    assert seen[("infertap_execution_status", labels(status="Failed"))] == 0
    assert seen[("infertap_last_execution_timestamp_seconds", labels())] == 1_800_000_000.0
    assert (
        seen[("infertap_monitoring_window_end_timestamp_seconds", labels())]
        == (HOUR_START + timedelta(hours=1)).timestamp()
    )
    assert seen[("infertap_records_analyzed_total", labels())] == 10
    assert seen[("infertap_monitoring_runs_total", labels(status="CompletedWithViolations"))] == 1
    assert seen[("infertap_monitoring_runs_total", labels(status="Failed"))] == 0


def test_failed_run_flips_status_and_keeps_last_feature_values() -> None:
    metrics = AnalyzerMetrics()
    metrics.update_from(
        result("Completed", "age", "city", drift={"age": 0.01}), "churn", "AllTraffic",
        finished_at=100.0,
    )  # fmt: skip
    metrics.update_from(result("Failed"), "churn", "AllTraffic", finished_at=200.0)
    seen = samples(metrics)
    assert seen[("infertap_execution_status", labels(status="Failed"))] == 1
    assert seen[("infertap_execution_status", labels(status="Completed"))] == 0
    assert seen[("infertap_last_execution_timestamp_seconds", labels())] == 200.0
    assert seen[("infertap_last_successful_execution_timestamp_seconds", labels())] == 100.0
    assert seen[("infertap_feature_baseline_drift", labels(feature="age"))] == 0.01
    assert seen[("infertap_violations", labels(check="baseline_drift_check"))] == 0
    assert seen[("infertap_monitoring_runs_total", labels(status="Failed"))] == 1
    assert seen[("infertap_records_analyzed_total", labels())] == 10


def test_chi_squared_p_values_have_their_own_series() -> None:
    metrics = AnalyzerMetrics()
    run = result("Completed", "age", "city", drift={"age": 0.02}, p_values={"city": 0.003})
    metrics.update_from(run, "churn", "AllTraffic")
    seen = samples(metrics)
    assert seen[("infertap_feature_baseline_drift_p_value", labels(feature="city"))] == 0.003
    # Not a distance: an alert `drift > 0.1` must not see it.
    assert ("infertap_feature_baseline_drift", labels(feature="city")) not in seen
    assert ("infertap_feature_baseline_drift_p_value", labels(feature="age")) not in seen


def test_features_missing_from_a_later_run_lose_their_series() -> None:
    metrics = AnalyzerMetrics()
    metrics.update_from(
        result("Completed", "age", "city", drift={"age": 0.1}), "churn", "AllTraffic"
    )
    metrics.update_from(result("Completed", "age"), "churn", "AllTraffic")
    seen = samples(metrics)
    assert not any(dict(key[1]).get("feature") == "city" for key in seen)
    # Drift not computed this time: the stale value is gone, not repeated.
    assert ("infertap_feature_baseline_drift", labels(feature="age")) not in seen
    assert seen[("infertap_feature_mean", labels(feature="age"))] == 1.5


def test_real_prometheus_scrapes_the_metrics_server(
    prometheus_factory: StartPrometheus,  # noqa: F811
) -> None:
    metrics = AnalyzerMetrics()
    metrics.update_from(result("Completed", "age", drift={"age": 0.375}), "churn", "AllTraffic")
    server = MetricsServer(metrics.registry, "127.0.0.1", 0)
    server.start()
    try:
        prometheus = prometheus_factory(targets=[f"127.0.0.1:{server.port}"])
        found = prometheus.wait_for(
            'infertap_feature_baseline_drift{endpoint="churn",feature="age"}', timeout=20
        )
        assert float(found[0]["value"][1]) == 0.375
        assert found[0]["metric"]["variant"] == "AllTraffic"
        assert prometheus.targets()[0]["health"] == "up"
        # A second run's value reaches Prometheus at the next scrape.
        metrics.update_from(result("Completed", "age", drift={"age": 0.5}), "churn", "AllTraffic")
        prometheus.wait_for('infertap_feature_baseline_drift{feature="age"} == 0.5', timeout=20)
    finally:
        server.stop()


def test_prometheus_reads_drift_from_the_running_scheduler(
    tmp_path: Path,
    prometheus_factory: StartPrometheus,  # noqa: F811
) -> None:
    statistics_path, constraints_path = make_baseline(tmp_path)
    now = datetime.now(UTC)
    delay = stable_delay(now)
    newest = latest_due_hour(now, timedelta(minutes=delay))
    for hour in (newest - timedelta(hours=1), newest):
        write_captures(tmp_path / "capture", hour, DRIFTED_X)
    config = write_config(tmp_path, statistics_path, constraints_path, broken=False)
    port = free_port()
    log_path = tmp_path / "schedule.log"
    process = start_scheduler(config, port, delay, log_path)
    try:
        wait_until(lambda: port_open(port), timeout=30, what="the scheduler's /metrics port")
        prometheus = prometheus_factory(targets=[f"127.0.0.1:{port}"])
        # Exact KS (the sketches are exact below 2,000 values), less the sampling noise that
        # the baseline's default comparison_method "Robust" subtracts: 0.5 - 0.18.
        method = json.loads(constraints_path.read_text())["monitoring_config"][
            "distribution_constraints"
        ]["comparison_method"]
        assert method == "Robust"
        n, m = len(TRAIN_X), len(DRIFTED_X)
        expected = ks_2samp(TRAIN_X, DRIFTED_X).statistic - 1.8 * math.sqrt((n + m) / (n * m))
        # Both due hours analysed (oldest first), no other run.
        prometheus.wait_for(
            f'infertap_monitoring_runs_total{{endpoint="{ENDPOINT}",'
            'status="CompletedWithViolations"} == 2',
            timeout=40,
        )
        drift = prometheus.query(
            f'infertap_feature_baseline_drift{{endpoint="{ENDPOINT}",variant="{VARIANT}",'
            'feature="x"}'
        )
        assert len(drift) == 1
        assert abs(float(drift[0]["value"][1]) - expected) <= 0.01, (drift, expected)
        status = prometheus.values(f'infertap_execution_status{{endpoint="{ENDPOINT}"}}')
        assert {dict(k)["status"]: v for k, v in status.items()}["CompletedWithViolations"] == 1
        assert prometheus.query('infertap_violations{check="baseline_drift_check"} >= 1')
        runs = prometheus.values(f'infertap_monitoring_runs_total{{endpoint="{ENDPOINT}"}}')
        assert {dict(k)["status"]: v for k, v in runs.items()} == {
            "Completed": 0, "CompletedWithViolations": 2, "Failed": 0, "Stopped": 0
        }  # fmt: skip
        assert process.poll() is None, log_path.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log_path.read_text()
    messages = [json.loads(line)["message"] for line in log_path.read_text().splitlines()]
    assert "scheduler stopped" in messages
