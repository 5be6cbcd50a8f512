"""Real parts end to end: the sidecar in front of a model server delivers capture files to moto's
S3 server, `watch` follows the bucket; an archived (unreadable) file is counted, a stuck feature
reaches /metrics, and a watcher killed with SIGKILL reads its window again on restart."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from sidecar.common.layout import file_name, partition_key
from tests.analyzer.live.live_data import ENDPOINT, VARIANT, make_baseline
from tests.analyzer.live.watch_process import Watcher
from tests.conftest import S3Server, wait_until
from tests.sidecar.conftest import SidecarProcess, Upstream, launch_sidecar, upstream  # noqa: F401

LIVE = ["--window", "2m", "--step", "10s", "--poll-interval", "1s", "--min-records", "50"]
LABELS = {"endpoint": ENDPOINT, "variant": VARIANT}


@pytest.fixture
def sidecar(
    upstream: Upstream,  # noqa: F811
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> Iterator[SidecarProcess]:
    process = launch_sidecar(
        upstream.url,
        tmp_path / "sidecar",
        env=s3_server.env(),
        destination=f"s3://{s3_bucket}/capture",
        endpoint_name=ENDPOINT,
        flush_interval=1,
    )
    yield process
    process.kill()


def send(sidecar: SidecarProcess, rows: np.ndarray) -> None:
    for x, y in rows.round(4).tolist():
        request = urllib.request.Request(
            sidecar.url + "/invocations", data=f"{x},{y}".encode(), method="POST",
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def inputs(rng: np.random.Generator, count: int, stuck: bool = False) -> np.ndarray:
    x = np.zeros(count) if stuck else rng.normal(0, 1, count)
    return np.column_stack([x, rng.normal(5, 2, count)])


def test_sidecar_to_s3_to_watch_and_a_restart_after_sigkill(
    sidecar: SidecarProcess,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    statistics, constraints = make_baseline(tmp_path)
    rng = np.random.default_rng(5)
    send(sidecar, inputs(rng, 150))
    args = ["--captures", f"s3://{s3_bucket}/capture", "--endpoint-name", ENDPOINT,
            "--baseline-statistics", str(statistics), "--baseline-constraints", str(constraints),
            "--monitor", "input", *LIVE]  # fmt: skip
    watcher = Watcher(args, tmp_path / "watch.log", env=s3_server.env()).start()
    try:
        wait_until(
            lambda: (watcher.value("infertap_live_window_records", **LABELS) or 0) >= 150,
            timeout=40,
            what="the sidecar's records in the live window",
        )
        assert watcher.value("infertap_live_violations", check="baseline_drift_check") == 0
        # A capture file a lifecycle rule moved to Glacier: listed, unreadable, counted.
        hour = datetime.now(UTC)
        key = f"capture/{partition_key(ENDPOINT, VARIANT, hour)}/{file_name(hour, uuid.uuid4())}"
        s3_server.client().put_object(
            Bucket=s3_bucket, Key=key, Body=b"{}\n", StorageClass="GLACIER"
        )
        wait_until(
            lambda: watcher.value("infertap_live_files_total", outcome="unreadable", **LABELS) == 1,
            timeout=30,
            what="the archived file counted unreadable",
        )
        send(sidecar, inputs(rng, 300, stuck=True))

        def drift_violations(process: Watcher) -> float:
            return process.value("infertap_live_violations", check="baseline_drift_check") or 0

        wait_until(lambda: drift_violations(watcher) > 0, timeout=60, what="live drift on x")
        files = watcher.value("infertap_live_files_total", outcome="read", **LABELS) or 0
        assert files >= 2
        watcher.kill()
        # No state file: the restarted watcher reads the window's files again.
        watcher = Watcher(args, tmp_path / "watch2.log", env=s3_server.env()).start()
        wait_until(lambda: drift_violations(watcher) > 0, timeout=40, what="drift after restart")
        assert (watcher.value("infertap_live_window_records", **LABELS) or 0) >= 300
        assert watcher.value("infertap_live_files_total", outcome="late", **LABELS) == 0
    finally:
        watcher.kill()
