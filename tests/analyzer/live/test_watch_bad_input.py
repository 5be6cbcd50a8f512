"""Bad input to a running `watch`: truncated files, records far in the future, thousands of tiny
files, a baseline replaced (and then broken) while it runs, and captures that stop."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.analyzer.live.live_data import (
    ENDPOINT,
    VARIANT,
    Traffic,
    make_baseline,
    normal_rows,
)
from tests.analyzer.live.watch_process import Watcher
from tests.conftest import wait_until

LABELS = {"endpoint": ENDPOINT, "variant": VARIANT}
SHORT = ["--window", "30s", "--step", "5s", "--poll-interval", "1s", "--min-records", "50"]


def test_bad_input_is_counted_and_the_watch_goes_on(tmp_path: Path) -> None:
    statistics, constraints = make_baseline(tmp_path)
    (tmp_path / "moved").mkdir()
    moved_statistics, moved_constraints = make_baseline(tmp_path / "moved", x_shift=3.0)
    captures = tmp_path / "captures"
    live = tmp_path / "live-baseline"
    live.mkdir()
    shutil.copy(statistics, live / "statistics.json")
    shutil.copy(constraints, live / "constraints.json")
    traffic = Traffic(captures, per_minute=1200)
    now = datetime.now(UTC)
    traffic.write(now - timedelta(seconds=30), now)
    watcher = Watcher(
        ["--captures", str(captures), "--endpoint-name", ENDPOINT, *SHORT,
         "--baseline-statistics", str(live / "statistics.json"),
         "--baseline-constraints", str(live / "constraints.json")],
        tmp_path / "watch.log",
    ).start()  # fmt: skip
    try:
        value = watcher.value
        wait_until(lambda: (value("infertap_live_window_records", **LABELS) or 0) >= 300, 30)
        read_before = value("infertap_live_files_total", outcome="read", **LABELS) or 0

        # A file cut mid-line: its whole records are read, the cut one is not.
        cut = traffic.write_file(datetime.now(UTC), [datetime.now(UTC)] * 20, normal_rows)
        cut.write_bytes(cut.read_bytes()[:-30])
        # Records a day ahead of the clock: counted, and they do not hold the window open.
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        traffic.write_file(datetime.now(UTC), [tomorrow] * 25, normal_rows)
        # Thousands of tiny files, one record each.
        moment = datetime.now(UTC)
        for index in range(2000):
            traffic.write_file(moment + timedelta(microseconds=index), [moment], normal_rows)
        wait_until(
            lambda: (
                value("infertap_live_files_total", outcome="read", **LABELS) == read_before + 2002
            ),
            timeout=60,
            what="every new file read once",
        )
        assert value("infertap_live_records_total", outcome="future", **LABELS) == 25
        lag = value("infertap_live_lag_seconds", **LABELS)
        # The records a day ahead did not move the newest time read: the tiny files' is newest.
        assert lag is not None and 0 <= lag <= (datetime.now(UTC) - moment).total_seconds() + 1

        # A baseline whose x sits 3 standard deviations away, swapped in while running.
        traffic.write(
            datetime.now(UTC) - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=4)
        )
        shutil.copy(moved_statistics, live / "statistics.json")
        shutil.copy(moved_constraints, live / "constraints.json")
        wait_until(
            lambda: (value("infertap_live_violations", check="baseline_drift_check") or 0) > 0,
            timeout=30,
            what="the replaced baseline in use",
        )
        # A broken baseline: an error is counted, the last good one stays in use.
        (live / "constraints.json").write_text("{not json")
        wait_until(
            lambda: (value("infertap_live_errors_total", reason="baseline", **LABELS) or 0) > 0,
            timeout=30,
        )
        assert (value("infertap_live_violations", check="baseline_drift_check") or 0) > 0

        # Captures stop: the window empties, no check runs (violations read 0), lag grows.
        wait_until(
            lambda: (value("infertap_live_window_records", **LABELS) or 0) < 50,
            timeout=60,
            what="the window emptied",
        )
        assert value("infertap_live_violations", check="baseline_drift_check") == 0
        assert (value("infertap_live_lag_seconds", **LABELS) or 0) > 20
    finally:
        watcher.kill()
