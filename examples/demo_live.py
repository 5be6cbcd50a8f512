"""The demo's live phase: a sidecar flushing every 10 s, `infertap-analyzer watch` with a short
window on its deliveries, clean traffic, then a feature stuck at 0; and the timeline of when the
change began, when the live violation reached /metrics, and what the hour's report says."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from demo_traffic import clean_rows, send_csv_rows
from model_server import load_data
from processes import Children, free_port

ENDPOINT = "breast-cancer-live"
STUCK_FEATURE = "mean_radius"
RATE = 20  # requests a second, one row each
WATCH_FLAGS = ("--window", "1m", "--step", "10s", "--poll-interval", "2s", "--min-records", "100")
Say = Callable[[str], None]


@dataclass
class LiveTimeline:
    changed: datetime
    flagged: datetime | None
    hourly_status: str
    hourly_features: list[str]

    def lines(self) -> list[str]:
        hour_end = self.changed.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        scheduled = hour_end + timedelta(minutes=20)
        live = (
            f"+{(self.flagged - self.changed).total_seconds():5.1f} s  live violation on /metrics "
            f"(infertap_live_violations, {STUCK_FEATURE})"
            if self.flagged
            else "   never  live violation (not seen in time)"
        )
        return [
            f"  {self.changed:%H:%M:%S}  +  0.0 s  {STUCK_FEATURE} stuck at 0 from this request on",
            f"  {(self.flagged or self.changed):%H:%M:%S}  {live}",
            f"  {scheduled:%H:%M}     +{(scheduled - self.changed).total_seconds() / 60:5.1f} min "
            f"the hourly schedule's report for {self.changed:%H}:00 (delay 20): "
            f"{self.hourly_status}, drift in {', '.join(self.hourly_features) or 'nothing'}",
        ]


def live_phase(out: Path, baseline: tuple[Path, Path], say: Say, seed: int) -> LiveTimeline:
    """Run the live phase with processes of its own; the timeline of the stuck feature."""
    children = Children()
    try:
        sidecar_port, metrics_port = _start(children, out, baseline, say)
        features, data, _ = load_data()
        rng = np.random.default_rng(seed)
        url = f"http://127.0.0.1:{sidecar_port}/invocations"
        say(f"live phase: clean traffic at {RATE} requests/s until the window is checked")
        _send_until(url, lambda n: clean_rows(data, n, rng), lambda: _records(metrics_port) >= 150)
        changed = datetime.now(UTC)
        say(f"live phase: {STUCK_FEATURE} now reads 0 (a broken sensor)")
        stuck = features.index(STUCK_FEATURE)

        def broken(n: int) -> np.ndarray:
            rows = clean_rows(data, n, rng)
            rows[:, stuck] = 0.0
            return rows

        deadline = time.monotonic() + 120
        _send_until(
            url, broken, lambda: _violations(metrics_port) > 0 or time.monotonic() > deadline
        )
        flagged = datetime.now(UTC) if _violations(metrics_port) > 0 else None
        say(f"live phase: flagged; {STUCK_FEATURE} stays at 0 for 40 s more, for the hour's report")
        more = time.monotonic() + 40
        _send_until(url, broken, lambda: time.monotonic() > more)
        say("live phase: stopping the sidecar (it delivers what it holds) and the watcher")
    finally:
        children.stop_all()
    status, drifted = _hourly_report(out, baseline, changed)
    return LiveTimeline(changed, flagged, status, drifted)


def _start(children: Children, out: Path, baseline: tuple[Path, Path], say: Say) -> tuple[int, int]:
    model_port, sidecar_port, admin, metrics = (free_port() for _ in range(4))
    model = children.start(
        "live model server",
        [sys.executable, "examples/model_server.py", "--port", str(model_port)],
        log_path=out / "logs" / "live_model_server.log",
    )
    model.wait_http(f"http://127.0.0.1:{model_port}/ping")
    sidecar = children.start(
        f"sidecar {ENDPOINT}",
        [sys.executable, "-m", "sidecar", "--upstream", f"http://127.0.0.1:{model_port}",
         "--listen", f"127.0.0.1:{sidecar_port}", "--admin-listen", f"127.0.0.1:{admin}",
         "--destination", str(out / "capture"), "--spool-dir", str(out / "spool" / ENDPOINT),
         "--endpoint-name", ENDPOINT, "--flush-interval", "10", "--shutdown-grace", "10"],
        log_path=out / "logs" / f"{ENDPOINT}.log",
    )  # fmt: skip
    sidecar.wait_http(f"http://127.0.0.1:{admin}/readyz")
    watch = children.start(
        "watch",
        [sys.executable, "-m", "analyzer", "watch", "--captures", str(out / "capture"),
         "--endpoint-name", ENDPOINT, "--baseline-statistics", str(baseline[0]),
         "--baseline-constraints", str(baseline[1]), *WATCH_FLAGS,
         "--metrics-listen", f"127.0.0.1:{metrics}"],
        log_path=out / "logs" / "watch.log",
    )  # fmt: skip
    watch.wait_http(f"http://127.0.0.1:{metrics}/healthz")
    say(
        f"live phase: sidecar {ENDPOINT} flushing every 10 s, `watch {' '.join(WATCH_FLAGS)}` "
        f"serving http://127.0.0.1:{metrics}/metrics and /live/{ENDPOINT}/AllTraffic"
    )
    return sidecar_port, metrics


def _send_until(url: str, rows: Callable[[int], np.ndarray], done: Callable[[], bool]) -> None:
    """RATE requests a second (bounded to 5 minutes) until `done()`."""
    started = time.monotonic()
    while not done() and time.monotonic() - started < 300:
        tick = time.monotonic()
        send_csv_rows(url, rows(RATE), concurrency=4)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


def _metric(port: int, name: str, labels: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _records(port: int) -> float:
    return _metric(port, "infertap_live_window_records")


def _violations(port: int) -> float:
    return _metric(port, "infertap_live_violations", 'check="baseline_drift_check"')


def _hourly_report(
    out: Path, baseline: tuple[Path, Path], changed: datetime
) -> tuple[str, list[str]]:
    """`run` over the hour of the change, as the hourly schedule will: its status and drift."""
    import json

    hour = changed.replace(minute=0, second=0, microsecond=0)
    folder = out / "monitoring-live"
    subprocess.run(
        [sys.executable, "-m", "analyzer", "run", "--captures", str(out / "capture"),
         "--endpoint-name", ENDPOINT, "--baseline-statistics", str(baseline[0]),
         "--baseline-constraints", str(baseline[1]), "--start", hour.isoformat(),
         "--end", (hour + timedelta(hours=1)).isoformat(), "--output", str(folder)],
        capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    try:
        execution = json.loads((folder / "execution.json").read_text())
        violations = json.loads((folder / "constraint_violations.json").read_text())
    except (OSError, ValueError):
        return "no report", []
    drifted = sorted(
        {v["feature_name"] for v in violations["violations"]
         if v["constraint_check_type"] == "baseline_drift_check"}
    )  # fmt: skip
    return str(execution.get("status")), drifted
