"""`watch` following a local capture folder: live metrics, the live page, late and bad files."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zlib import crc32

import pytest
import yaml

from analyzer.__main__ import main as analyzer_main
from sidecar.common.layout import partition_key
from tests.analyzer.live.live_data import (
    ENDPOINT,
    VARIANT,
    Traffic,
    make_baseline,
    normal_rows,
    stuck_rows,
)
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
    # At least 30 s of stuck traffic, however quickly the window was read above: a fast machine
    # gets here within seconds, and a handful of stuck records is rightly not significant.
    stuck_until = max(broke, start + timedelta(seconds=30)) + timedelta(seconds=5)
    traffic.write(start, stuck_until, stuck_rows)

    def flagged() -> bool:
        return (watcher.value("infertap_live_violations", check="baseline_drift_check") or 0) > 0

    wait_until(flagged, timeout=40, what="a live drift violation for x")
    drift = watcher.value("infertap_live_feature_baseline_drift", feature="x")
    assert drift is not None and drift > 0.1
    status, page = watcher.get(f"/live/{ENDPOINT}/{VARIANT}")
    assert status == 200 and "baseline_drift_check" in page
    wait_until(lambda: now() >= stuck_until, timeout=40, what="the stuck traffic's last moment")
    lag = watcher.value("infertap_live_lag_seconds", **labels)
    # The newest record read is at least as recent as the traffic before the change.
    assert lag is not None and 0 <= lag <= (now() - start).total_seconds()
    assert watcher.stop() == 0


def test_a_late_file_is_counted_late_and_in_its_hours_report(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    statistics, constraints = baseline
    captures, output = tmp_path / "captures", tmp_path / "reports"
    traffic = Traffic(captures, per_minute=600)
    started = now()
    hour = started.replace(minute=0, second=0, microsecond=0)
    previous = hour - timedelta(hours=1)
    traffic.write(previous + timedelta(minutes=10), previous + timedelta(minutes=12))
    traffic.write(started - timedelta(minutes=2), started)
    # The previous hour's report falls due 90 s from now: the late file lands before that.
    delay = (started - hour).total_seconds() / 60 + 90 / 60
    watcher = Watcher(
        ["--captures", str(captures), "--endpoint-name", ENDPOINT, "--output", str(output),
         "--baseline-statistics", str(statistics), "--baseline-constraints", str(constraints),
         "--delay", f"{delay:.4f}", *FAST],
        tmp_path / "watch.log",
    )  # fmt: skip
    try:
        watcher.start()
        labels = {"endpoint": ENDPOINT, "variant": VARIANT}
        wait_until(lambda: watcher.value("infertap_live_window_records", **labels), timeout=30)
        late_moments = [previous + timedelta(minutes=30, seconds=i) for i in range(100)]
        traffic.write_file(previous + timedelta(minutes=30), late_moments, normal_rows)
        wait_until(
            lambda: watcher.value("infertap_live_files_total", outcome="late", **labels) == 1,
            timeout=30,
            what="the late file counted late",
        )
        assert watcher.value("infertap_live_records_total", outcome="late", **labels) == 100
        report = output / partition_key(ENDPOINT, VARIANT, previous)
        wait_until(lambda: (report / "report.html").exists(), timeout=150, what="the hour's report")
        execution = json.loads((report / "execution.json").read_text())
        # 12 files of 10 s at 600 a minute, and the late file.
        assert execution["records_analyzed"] == 1200 + 100
        assert execution["status"] == "Completed"
    finally:
        watcher.kill()
    # `run` over the same hour reads the same records and finds the same.
    ran = tmp_path / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        code = analyzer_main(
            ["run", "--captures", str(captures), "--endpoint-name", ENDPOINT,
             "--baseline-statistics", str(statistics), "--baseline-constraints", str(constraints),
             "--start", previous.isoformat(), "--end", hour.isoformat(), "--output", str(ran)]
        )  # fmt: skip
    assert code == 0
    by_run = json.loads((ran / "execution.json").read_text())
    assert by_run["records_analyzed"] == execution["records_analyzed"]
    assert (ran / "constraint_violations.json").read_text() == (
        report / "constraint_violations.json"
    ).read_text()


def test_the_schedules_yaml_a_shard_of_it_and_live_cbpe_estimates(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    """Every endpoint of the schedule's YAML in this shard is watched (the other shard's is
    not), and a binary model_quality section with a score gets CBPE estimates live."""
    statistics, constraints = baseline
    (tmp_path / "mq.json").write_text(json.dumps({"version": 0.0}))
    quality = {"ground_truth": "labels", "baseline_constraints": "mq.json",
               "problem_type": "BinaryClassification", "probability_attribute": "0"}  # fmt: skip
    other = next(
        f"fraud-{i}"
        for i in range(100)
        if crc32(f"fraud-{i}".encode()) % 2 != crc32(ENDPOINT.encode()) % 2
    )
    config = {
        "defaults": {"captures": "captures", "output": "reports",
                     "baseline_statistics": str(statistics),
                     "baseline_constraints": str(constraints)},
        "endpoints": [{"name": ENDPOINT, "model_quality": quality}, {"name": other}],
    }  # fmt: skip
    (tmp_path / "monitor.yaml").write_text(yaml.safe_dump(config))
    Traffic(tmp_path / "captures", per_minute=1200).write(now() - timedelta(minutes=1), now())
    shard = f"{crc32(ENDPOINT.encode()) % 2}/2"
    watcher = Watcher(
        ["--config", str(tmp_path / "monitor.yaml"), "--shard", shard, *FAST],
        tmp_path / "watch.log",
    )
    try:
        watcher.start()
        wait_until(
            lambda: watcher.value("infertap_live_estimated_metric", metric="accuracy"),
            timeout=30,
            what="a CBPE accuracy estimate",
        )
        # Scores are uniform on [0, 1] and predict 1 above 0.5: expected accuracy 0.75.
        accuracy = watcher.value("infertap_live_estimated_metric", metric="accuracy")
        assert accuracy is not None and 0.7 < accuracy < 0.8
        endpoints = {dict(labels).get("endpoint") for _, labels in watcher.samples()}
        assert ENDPOINT in endpoints and other not in endpoints
        assert watcher.get(f"/live/{other}/{VARIANT}")[0] == 404
    finally:
        watcher.kill()
