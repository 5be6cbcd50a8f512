"""Sidecar metrics: values match what happened, and the exposition passes `promtool check`."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import wait_until
from tests.sidecar.conftest import StartSidecar, http_get
from tests.sidecar.proxy.test_proxy import request

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool_check(text: str) -> None:
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_metric_values_match_the_traffic(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar()
    for _ in range(3):
        assert (
            request(sidecar.url, "POST", "/invocations", b"1,2", {"Content-Type": "text/csv"})[0]
            == 200
        )
    for _ in range(2):
        assert request(sidecar.url, "GET", "/ping")[0] == 200
    assert request(sidecar.url, "GET", "/status/404")[0] == 404
    sidecar.wait_for_records(3)
    wait_until(
        lambda: sidecar.metric("infertap_uploads_total", outcome="success") >= 1,
        timeout=10,
        what="an upload",
    )
    m = sidecar.metrics()
    assert m['infertap_requests_total{code="200"}'] == 5
    assert m['infertap_requests_total{code="404"}'] == 1
    assert m["infertap_request_duration_seconds_count"] == 6
    assert m["infertap_upstream_duration_seconds_count"] == 6
    # Only POSTs are capture candidates by default; GETs are neither captured nor "not sampled".
    assert m['infertap_capture_records_total{outcome="captured"}'] == 3
    assert m['infertap_capture_records_total{outcome="captured"}'] == len(sidecar.records())
    assert m['infertap_capture_records_total{outcome="not_sampled"}'] == 0
    for reason in ("too_large", "queue_full", "spool_full", "write_error", "shutdown"):
        assert m[f'infertap_capture_records_total{{outcome="{reason}"}}'] == 0
    delivered = sum(len(p.read_bytes()) for p in sidecar.capture_files())
    assert m["infertap_capture_bytes_total"] == delivered
    for outcome in ("refused", "connection", "timeout", "http_error", "error"):
        assert m[f'infertap_uploads_total{{outcome="{outcome}"}}'] == 0
    assert m["infertap_capture_queue_bytes"] == 0


def test_outcomes_count_each_exchange_once(start_sidecar: StartSidecar) -> None:
    """With a spool cap of a few records, captured + spool_full is exactly what was sent."""
    sent = 20
    # Files stay open (and in the spool) until SIGTERM, so the cap is reached for sure.
    sidecar = start_sidecar(spool_max_bytes="1000B", flush_interval=60)
    for i in range(sent):
        body = f"{i},1,2".encode()
        assert request(sidecar.url, "POST", "/echo", body, {"Content-Type": "text/csv"})[0] == 200

    def outcome(name: str) -> float:
        return sidecar.metric("infertap_capture_records_total", outcome=name)

    wait_until(
        lambda: outcome("captured") + outcome("spool_full") >= sent,
        timeout=10,
        what="every record written or dropped",
    )
    captured, spool_full = outcome("captured"), outcome("spool_full")
    assert captured + spool_full == sent
    assert captured >= 1 and spool_full >= 1
    for reason in ("too_large", "queue_full", "write_error", "shutdown", "redact_error"):
        assert outcome(reason) == 0, reason
    assert sidecar.metric("infertap_capture_queue_bytes") == 0

    sidecar.terminate()
    assert sidecar.wait() == 0
    assert len(sidecar.records()) == captured


def test_exposition_passes_promtool(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar(upstream_timeout=0.2)
    request(sidecar.url, "POST", "/invocations", b"1,2", {"Content-Type": "text/csv"})
    request(sidecar.url, "POST", "/slow?seconds=1", b"x")
    text = sidecar.metrics_text()
    for name in (
        "infertap_requests_total",
        "infertap_request_duration_seconds_bucket",
        "infertap_upstream_duration_seconds_bucket",
        "infertap_upstream_errors_total",
        "infertap_capture_records_total",
        "infertap_capture_bytes_total",
        "infertap_capture_queue_bytes",
        "infertap_spool_bytes",
        "infertap_spool_files",
        "infertap_uploads_total",
        "infertap_upload_duration_seconds_bucket",
    ):
        assert f"\n{name}" in text, name
    promtool_check(text)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints_answer_json(start_sidecar: StartSidecar, path: str) -> None:
    sidecar = start_sidecar()
    status, body = http_get(sidecar.admin_url + path)
    assert status == 200
    assert body in (b'{"status":"alive"}', b'{"status":"ready"}')
