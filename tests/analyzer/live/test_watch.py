"""`watch` following a local capture folder: live metrics, the live page, late and bad files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.analyzer.live.live_data import ENDPOINT, VARIANT, Traffic, make_baseline, stuck_rows
from tests.analyzer.live.watch_process import Watcher
from tests.conftest import wait_until

FAST = ["--window", "2m", "--step", "10s", "--poll-interval", "1s", "--min-records", "50"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_baseline(tmp_path_factory.mktemp("baseline"))


@pytest.fixture
def watcher(tmp_path: Path, baseline: tuple[Path, Path]) -> Iterator[Watcher]:
    statistics, constraints = baseline
    args = ["--captures", str(tmp_path / "captures"), "--endpoint-name", ENDPOINT,
            "--baseline-statistics", str(statistics), "--baseline-constraints", str(constraints),
            *FAST]  # fmt: skip
    process = Watcher(args, tmp_path / "watch.log")
    yield process
    process.kill()


def now() -> datetime:
    return datetime.now(UTC)


def test_a_stuck_feature_reaches_the_live_metrics_and_page(
    tmp_path: Path, watcher: Watcher
) -> None:
    traffic = Traffic(tmp_path / "captures", per_minute=600)
    start = now()
    traffic.write(start - timedelta(minutes=2), start)  # the window before the watcher starts
    watcher.start()
    labels = {"endpoint": ENDPOINT, "variant": VARIANT}
    wait_until(
        lambda: (watcher.value("infertap_live_window_records", **labels) or 0) >= 1000,
        timeout=30,
        what="the last window read on start",
    )
    assert watcher.value("infertap_live_violations", check="baseline_drift_check") == 0
    assert watcher.value("infertap_live_feature_completeness", feature="x") == 1.0
    assert watcher.value("infertap_live_files_total", outcome="read", **labels) == 12
    status, page = watcher.get(f"/live/{ENDPOINT}/{VARIANT}")
    assert status == 200 and "Completed: Job completed successfully" in page
    broke = now()
    traffic.write(start, broke + timedelta(seconds=5), stuck_rows)

    def flagged() -> bool:
        return (watcher.value("infertap_live_violations", check="baseline_drift_check") or 0) > 0

    wait_until(flagged, timeout=40, what="a live drift violation for x")
    drift = watcher.value("infertap_live_feature_baseline_drift", feature="x")
    assert drift is not None and drift > 0.1
    status, page = watcher.get(f"/live/{ENDPOINT}/{VARIANT}")
    assert status == 200 and "baseline_drift_check" in page
    lag = watcher.value("infertap_live_lag_seconds", **labels)
    assert lag is not None and lag < 30
    assert watcher.stop() == 0
