"""End to end on 127.0.0.1: a real sidecar (in front of the test model server) and a real
`infertap-analyzer schedule` (over drifted capture files and a real baseline) and a real
`infertap-analyzer watch` following the sidecar's deliveries, scraped by a real Prometheus through
deploy/prometheus/prometheus.yml's own relabelling and evaluating deploy/prometheus/rules.yml.
Every dashboard panel must return data; the drift alerts (hourly and live) must fire and the
capture-drop alert must not."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.common.layout import hour_of, partition_key
from sidecar.common.record import Payload, build_record
from sidecar.injection.container import ADMIN_PORT_NAME, CONTAINER_NAME, TRAFFIC_PORT_NAME
from tests.analyzer.clarify.linear_server import LinearModel, serve
from tests.conftest import free_port, port_open, wait_until
from tests.deploy.observability import (
    RULES,
    load_dashboard,
    local_scrape_jobs,
    panel_queries,
    pod_targets,
    substitute,
)
from tests.prometheus_server import PrometheusServer
from tests.sidecar.conftest import SidecarProcess, Upstream, launch_sidecar

ENDPOINT = "churn"
VARIANT = "AllTraffic"
# SageMaker's convention: the baseline dataset's output columns come first, then the inputs.
COLUMNS = ("prediction", "x1", "x2", "x3")
DRIFTED = "x1"


def _rows(count: int, seed: int, shift: float = 0.0) -> list[list[float]]:
    """(prediction, x1, x2, x3) rows; `shift` moves x1 by that many standard deviations."""
    rng = random.Random(seed)
    return [
        [round(rng.uniform(0.0, 1.0), 3), round(rng.gauss(10.0, 2.0) + shift * 2.0, 3),
         round(rng.gauss(5.0, 1.0), 3), round(rng.gauss(0.0, 1.0), 3)]
        for _ in range(count)
    ]  # fmt: skip


def _write_captures(root: Path, hour: datetime, rows: list[list[float]]) -> None:
    """One capture file of the hour, as the sidecar writes them (record and key layout)."""
    folder = root / partition_key(ENDPOINT, VARIANT, hour)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (prediction, *features) in enumerate(rows):
        lines.append(
            build_record(
                inference_time=hour + timedelta(seconds=index % 3600),
                request=Payload("text/csv", ",".join(map(str, features)).encode()),
                response=Payload("text/csv; charset=utf-8", str(prediction).encode()),
                inference_id=f"{hour:%d%H}-{index}",
            )
        )
    (folder / f"05-00-000-{uuid.uuid4()}.jsonl").write_bytes(b"".join(lines))


def _model_quality(base: Path, hour: datetime, count: int) -> dict[str, object]:
    """Labels for the captures of `hour` and a model-quality baseline: the scheduler's model
    quality runs for the hour one label_delay before the newest analysed one."""
    labels = "".join(f"{hour:%d%H}-{i},{i % 2}\n" for i in range(count))
    (base / "labels.csv").write_text(labels)
    _run("-m", "analyzer", "ground-truth", "--destination", "labels", "--input", "labels.csv",
         "--written-at", f"{hour:%Y-%m-%dT%H:30:00Z}", cwd=base)  # fmt: skip
    constraints = {"accuracy": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}}
    document = {"version": 0.0, "binary_classification_constraints": constraints}
    (base / "mq-constraints.json").write_text(json.dumps(document))
    return {
        "ground_truth": "labels",
        "baseline_constraints": "mq-constraints.json",
        "problem_type": "BinaryClassification",
        "probability_attribute": "0",
        "label_delay": 1,
    }


def _clarify(base: Path, model_url: str) -> dict[str, object]:
    """A bias baseline and an attribution baseline (the linear model at `model_url`): the
    endpoint's `bias` and `attribution` sections."""
    rows = _rows(400, 5)
    lines = ["label,x1,x2,x3,predicted"]
    lines += [f"{i % 2},{x1},{x2},{x3},{int(p > 0.5)}" for i, (p, x1, x2, x3) in enumerate(rows)]
    (base / "clarify-train.csv").write_text("\n".join(lines) + "\n")
    config = {
        "headers": ["label", "x1", "x2", "x3", "predicted"],
        "label": "label",
        "predicted_label": "predicted",
        "label_values_or_threshold": [1],
        "facet": [{"name_or_index": "x3", "value_or_threshold": [0]}],
        "methods": {
            "pre_training_bias": {"methods": ["CI", "DPL"]},
            "post_training_bias": {"methods": ["DPPL", "DI", "AD"]},
            "shap": {"baseline": [[10, 5, 0]], "num_samples": 6, "seed": 1},
        },
        "predictor": {"content_type": "text/csv", "accept_type": "text/csv", "probability": 0},
    }
    (base / "analysis_config.json").write_text(json.dumps(config))
    common = ("--dataset", "clarify-train.csv", "--header", "--analysis-config",
              "analysis_config.json")  # fmt: skip
    _run("-m", "analyzer", "bias-baseline", *common, "--output", "bias", cwd=base)
    _run("-m", "analyzer", "attribution-baseline", *common, "--model-url", model_url,
         "--max-records", "20", "--output", "shap", cwd=base)  # fmt: skip
    return {
        "bias": {
            "analysis_config": "analysis_config.json",
            "baseline_constraints": "bias/analysis.json",
            "ground_truth": "labels",
            "label_delay": 1,
        },
        "attribution": {
            "analysis_config": "analysis_config.json",
            "baseline_constraints": "shap/analysis.json",
            "model_url": model_url,
            "max_records": 20,
        },
    }


def _run(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{args}: {result.stderr}"


@dataclass
class Stack:
    sidecar: SidecarProcess
    analyzer_port: int
    watch_port: int
    prometheus: PrometheusServer


@pytest.fixture(scope="module")
def clarify_model() -> Iterator[str]:
    """A model whose SHAP values are known, for the attribution monitor's calls."""
    with serve(LinearModel((0.1, 0.2, 0.3))) as url:
        yield url


@pytest.fixture(scope="module")
def analyzer_schedule(
    tmp_path_factory: pytest.TempPathFactory, clarify_model: str
) -> Iterator[tuple[int, Path]]:
    """`python -m analyzer schedule` over two closed hours of drifted captures, still serving."""
    base = tmp_path_factory.mktemp("analyzer")
    train = base / "train.csv"
    train.write_text(
        ",".join(COLUMNS) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in _rows(2000, 1))
    )
    _run("-m", "analyzer", "baseline", "--dataset", str(train), "--output", "baseline", cwd=base)
    captures = base / "capture"
    current = hour_of(datetime.now(UTC))
    # The scheduler runs the two newest closed hours; the current hour has data too, so both have
    # data even if the hour turns before the scheduler starts.
    for offset, seed in ((0, 2), (1, 3), (2, 4)):
        _write_captures(captures, current - timedelta(hours=offset), _rows(800, seed, 1.0))
    config = {
        "defaults": {"captures": "capture", "output": "reports", "delay": 0},
        "endpoints": [
            {
                "name": ENDPOINT,
                "variant": VARIANT,
                "baseline_statistics": "baseline/statistics.json",
                "baseline_constraints": "baseline/constraints.json",
                "model_quality": _model_quality(base, current - timedelta(hours=2), 800),
                **_clarify(base, clarify_model),
            }
        ],
    }
    (base / "monitor.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = base / "schedule.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INFERTAP_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "analyzer", "schedule", "--config", "monitor.yaml",
             "--metrics-listen", f"127.0.0.1:{port}", "--catch-up-hours", "2"],
            cwd=base, env=environ, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(
            lambda: process.poll() is not None or port_open(port), timeout=30, what="analyzer"
        )
        assert process.poll() is None, log.read_text()
        yield port, log
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _post(url: str, body: bytes, content_type: str = "text/csv") -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture(scope="module")
def stack(
    upstream: Upstream,
    analyzer_schedule: tuple[int, Path],
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_module_factory: Callable[..., PrometheusServer],
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    sidecar = launch_sidecar(
        upstream.url, base / "sidecar", endpoint_name=ENDPOINT, upstream_timeout=0.3
    )
    watcher: subprocess.Popen[bytes] | None = None
    try:
        analyzer_port, schedule_log = analyzer_schedule
        watch_port, watcher = _start_watch(sidecar, schedule_log.parent, base)
        annotations = {  # what the webhook puts on the pod
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(sidecar.admin_port),
            "prometheus.io/path": "/metrics",
        }
        pod: dict[str, Any] = {
            "namespace": "models",
            "pod": "churn-5d8f7c9b64-x2x7q",
            "annotations": annotations,
        }
        labels = {"app.kubernetes.io/name": ENDPOINT}
        targets = [
            # Pod discovery yields one target per declared container port; one must survive.
            pod_targets(f"127.0.0.1:{upstream.port}", **pod, container="model",
                        port_name="http", labels=labels),
            pod_targets(f"127.0.0.1:{sidecar.port}", **pod, container=CONTAINER_NAME,
                        port_name=TRAFFIC_PORT_NAME, labels=labels),
            pod_targets(f"127.0.0.1:{sidecar.admin_port}", **pod, container=CONTAINER_NAME,
                        port_name=ADMIN_PORT_NAME, labels=labels),
            pod_targets(f"127.0.0.1:{analyzer_port}", namespace="infertap-system",
                        pod="infertap-analyzer-7b9c-abcde", container="analyzer",
                        port_name="metrics", annotations={},
                        labels={"app.kubernetes.io/name": "infertap-analyzer"}),
            pod_targets(f"127.0.0.1:{watch_port}", namespace="infertap-system",
                        pod="infertap-analyzer-0", container="analyzer",
                        port_name="metrics", annotations={},
                        labels={"app.kubernetes.io/name": "infertap-analyzer"}),
        ]  # fmt: skip
        targets_file = base / "targets.json"
        targets_file.write_text(json.dumps(targets))
        prometheus = prometheus_module_factory(
            jobs=local_scrape_jobs(targets_file), rule_files=[RULES]
        )
        _send_traffic(sidecar)
        yield Stack(sidecar, analyzer_port, watch_port, prometheus)
    finally:
        sidecar.kill()
        if watcher is not None:
            _stop(watcher)


def _start_watch(
    sidecar: SidecarProcess, analyzer: Path, base: Path
) -> tuple[int, subprocess.Popen[bytes]]:
    """`watch` over the sidecar's local deliveries, with the schedule's baseline; short steps."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INFERTAP_")}
    with (base / "watch.log").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "analyzer", "watch", "--captures", str(sidecar.destination),
             "--endpoint-name", ENDPOINT, "--monitor", "input",
             "--baseline-statistics", str(analyzer / "baseline" / "statistics.json"),
             "--baseline-constraints", str(analyzer / "baseline" / "constraints.json"),
             "--window", "2m", "--step", "5s", "--poll-interval", "1s", "--min-records", "20",
             "--metrics-listen", f"127.0.0.1:{port}"],
            env=environ, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_until(lambda: process.poll() is not None or port_open(port), timeout=30, what="watch")
    assert process.poll() is None, (base / "watch.log").read_text()
    return port, process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _send_traffic(sidecar: SidecarProcess) -> None:
    for row in _rows(40, 7):
        body = ",".join(map(str, row[1:])).encode()
        assert _post(sidecar.url + "/invocations", body) == 200
    # The upstream stays silent past --upstream-timeout: 504, counted as an upstream error.
    assert _post(sidecar.url + "/slow?seconds=2", b"") == 504
    # One OpenAI-compatible token stream, for the GenAI panels.
    chat = b'{"model": "fixture", "stream": true, "messages": []}'
    assert _post(sidecar.url + "/v1/chat/completions", chat, "application/json") == 200
    wait_until(
        lambda: sidecar.metric("infertap_uploads_total", outcome="success") > 0,
        timeout=20,
        what="a delivered capture file",
    )


def test_scrape_config_keeps_one_target_per_sidecar_and_the_analyzer(stack: Stack) -> None:
    stack.prometheus.wait_for_targets_up(timeout=20)
    targets = stack.prometheus.targets()
    scraped = sorted((t["labels"]["job"], t["scrapeUrl"]) for t in targets)
    assert scraped == sorted(
        [
            ("infertap-analyzer", f"http://127.0.0.1:{stack.analyzer_port}/metrics"),
            ("infertap-analyzer", f"http://127.0.0.1:{stack.watch_port}/metrics"),
            ("infertap-sidecar", f"http://127.0.0.1:{stack.sidecar.admin_port}/metrics"),
        ]
    )
    sidecar = next(t for t in targets if t["labels"]["job"] == "infertap-sidecar")
    assert sidecar["labels"]["namespace"] == "models"
    assert sidecar["labels"]["pod"] == "churn-5d8f7c9b64-x2x7q"
    assert sidecar["labels"]["app"] == ENDPOINT


def test_every_dashboard_panel_returns_data(stack: Stack) -> None:
    for title, expr in panel_queries(load_dashboard()):
        query = substitute(expr, rate_interval="1m", range_="1h")
        results: list[Any] = stack.prometheus.wait_for(query, timeout=30)
        assert results, f"panel {title!r}: no data for {query}"


def test_drift_alert_fires_and_capture_drop_alert_does_not(stack: Stack) -> None:
    prometheus = stack.prometheus
    firing = prometheus.wait_for(
        f'ALERTS{{alertname="InfertapFeatureDrift", alertstate="firing", feature="{DRIFTED}"}}',
        timeout=30,
    )
    assert firing[0]["metric"]["endpoint"] == ENDPOINT
    assert firing[0]["metric"]["severity"] == "warning"
    drift = prometheus.values(f'infertap_feature_baseline_drift{{feature="{DRIFTED}"}}')
    assert max(drift.values()) > 0.1
    # Rules evaluated several times since the sidecar's metrics arrived; no drops, no failure.
    prometheus.wait_for("count_over_time(infertap_capture_records_total[1m]) >= 3", timeout=20)
    for quiet in ("InfertapCaptureRecordsDropped", "InfertapMonitoringRunFailed"):
        assert prometheus.query(f'ALERTS{{alertname="{quiet}"}}') == [], quiet
    dropped = next(r for r in _rules(prometheus) if r["name"] == "InfertapCaptureRecordsDropped")
    assert dropped["health"] == "ok"
    assert prometheus.query(dropped["query"]) == []
    captured = prometheus.values('infertap_capture_records_total{outcome="captured"}')
    assert sum(captured.values()) > 0


def test_live_drift_alert_fires_within_a_minute_of_a_stuck_feature(stack: Stack) -> None:
    """A sensor stuck at 0 behind the sidecar: `watch` raises a live violation and the shipped
    InfertapLiveDrift rule fires for the endpoint; the live lag alert stays quiet."""
    prometheus = stack.prometheus
    for _prediction, _x1, x2, x3 in _rows(120, 11):
        body = ",".join(map(str, (0.0, x2, x3))).encode()
        assert _post(stack.sidecar.url + "/invocations", body) == 200
    firing = prometheus.wait_for(
        'ALERTS{alertname="InfertapLiveDrift", alertstate="firing"}', timeout=60
    )
    assert firing[0]["metric"]["endpoint"] == ENDPOINT
    drift = prometheus.values(f'infertap_live_feature_baseline_drift{{feature="{DRIFTED}"}}')
    assert max(drift.values()) > 0.1
    assert prometheus.query('ALERTS{alertname="InfertapLiveLag"}') == []


def _rules(prometheus: PrometheusServer) -> list[dict[str, Any]]:
    return [rule for group in prometheus.rules() for rule in group["rules"]]
