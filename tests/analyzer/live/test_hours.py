"""A closed hour's reports from the profiles `watch` holds, written once: a restarted watcher
finds the hour reported and leaves it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analyzer.live.buckets import StepBuckets
from analyzer.live.hours import report_hour
from analyzer.live.settings import LiveSettings, load_live_baseline
from analyzer.scheduling.config import EndpointConfig
from sidecar.common.layout import partition_key
from tests.analyzer.live.live_data import ENDPOINT, VARIANT, Traffic, make_baseline

HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)


def test_an_hour_is_reported_from_held_profiles_once(tmp_path: Path) -> None:
    statistics, constraints = make_baseline(tmp_path)
    captures, output = tmp_path / "captures", tmp_path / "reports"
    Traffic(captures, per_minute=100).write(HOUR, HOUR + timedelta(minutes=30))
    endpoint = EndpointConfig(
        name=ENDPOINT, variant=VARIANT, captures=str(captures), output=str(output),
        baseline_statistics=str(statistics), baseline_constraints=str(constraints),
    )  # fmt: skip
    baseline = load_live_baseline(endpoint, LiveSettings(window=900, step=60, poll_interval=15))
    buckets = StepBuckets(baseline.options, 60, keep_hours=True)
    start = int(HOUR.timestamp())
    for path in sorted(captures.rglob("*.jsonl")):
        buckets.add_file(start, path.read_bytes(), window_start=0, now=start + 7200)
    buckets.retire(start + 1200)  # the first 20 minutes left the window: folded into the hour
    first = report_hour(endpoint, start, buckets.hour_parts(start))
    assert first is not None and first.status == "Completed"
    folder = output / partition_key(ENDPOINT, VARIANT, HOUR)
    execution = json.loads((folder / "execution.json").read_text())
    assert execution["records_analyzed"] == 3000
    assert (folder / "report.html").exists()
    assert report_hour(endpoint, start, None) is None  # already reported: left as it is
