"""The scheduler and its /metrics with runs that end Stopped, and with traffic that brings
columns the baseline does not have."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from analyzer.scheduling.config import EndpointConfig
from analyzer.scheduling.loop import Scheduler
from analyzer.scheduling.metrics import AnalyzerMetrics
from analyzer.scheduling.metrics_server import MetricsServer
from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record
from tests.analyzer.monitoring_data import (
    ENDPOINT,
    TRAIN_X,
    VARIANT,
    analyzer,
    label_of,
    make_baseline,
    write_captures,
    write_config,
    y_of,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_baseline(tmp_path_factory.mktemp("baseline"))


@pytest.fixture
def metrics() -> Iterator[tuple[AnalyzerMetrics, MetricsServer]]:
    registry = AnalyzerMetrics()
    server = MetricsServer(registry.registry, "127.0.0.1", 0)
    server.start()
    yield registry, server
    server.stop()


def scrape(server: MetricsServer) -> Samples:
    url = f"http://127.0.0.1:{server.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset({"endpoint": ENDPOINT, "variant": VARIANT, **pairs}.items())


def endpoint(folder: Path, baseline: tuple[Path, Path], **options: object) -> EndpointConfig:
    return EndpointConfig(
        name=ENDPOINT,
        variant=VARIANT,
        captures=str(folder / "capture"),
        baseline_statistics=str(baseline[0]),
        baseline_constraints=str(baseline[1]),
        output=str(folder / "reports"),
        delay_minutes=0,
        options=options,
    )


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """The schedulers' stop event, set at the end to end their worker threads."""
    event = threading.Event()
    yield event
    event.set()


def scheduler_of(
    config: EndpointConfig, metrics: AnalyzerMetrics, clock: Callable[[], datetime], hours: int = 1
) -> Scheduler:
    """A scheduler of one endpoint, due as soon as an hour closes, looking `hours` back."""
    return Scheduler(
        [config], default_delay=timedelta(0), catch_up_hours=hours, metrics=metrics, clock=clock
    )


def record_of(folder: Path, hour: datetime) -> dict[str, object]:
    path = folder / "reports" / partition_key(ENDPOINT, VARIANT, hour) / "execution.json"
    record: dict[str, object] = json.loads(path.read_text())
    return record


def test_a_stopped_hour_is_shown_and_run_again_later(
    tmp_path: Path,
    baseline: tuple[Path, Path],
    metrics: tuple[AnalyzerMetrics, MetricsServer],
    stop: threading.Event,
) -> None:
    registry, server = metrics
    hour = at("2026-11-25T08:00")
    write_captures(tmp_path / "capture", hour, TRAIN_X)
    now = [at("2026-11-25T09:30")]
    tiny = endpoint(tmp_path, baseline, max_runtime=0.000001)
    scheduler = scheduler_of(tiny, registry, lambda: now[0])

    scheduler.loop(stop, once=True)

    assert scheduler.statuses == {"Stopped": 1}
    assert record_of(tmp_path, hour)["status"] == "Stopped"
    seen = scrape(server)
    assert seen[("infertap_execution_status", labels(status="Stopped"))] == 1
    assert seen[("infertap_execution_status", labels(status="Failed"))] == 0
    assert seen[("infertap_monitoring_runs_total", labels(status="Stopped"))] == 1

    # An hour later the Stopped hour runs again, with the newly due one (which has no captures).
    now[0] = at("2026-11-25T10:30")
    scheduler.loop(stop, once=True)
    assert scheduler.statuses == {"Stopped": 2, "Failed": 1}
    assert scrape(server)[("infertap_monitoring_runs_total", labels(status="Stopped"))] == 2

    # A restart does not take a Stopped hour for done: it runs it (here to completion).
    restarted = scheduler_of(endpoint(tmp_path, baseline), AnalyzerMetrics(), lambda: now[0], 2)
    restarted.loop(stop, once=True)
    assert restarted.statuses == {"Completed": 1, "Failed": 1}
    assert record_of(tmp_path, hour)["status"] == "Completed"


def write_wide_captures(root: Path, hour: datetime, count: int) -> None:
    """CSV requests with two values more than the baseline's inputs (columns _c3 and _c4)."""
    folder = root / partition_key(ENDPOINT, VARIANT, hour)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / file_name(hour + timedelta(minutes=1), uuid.uuid4())).open("wb") as out:
        for i in range(count):
            out.write(
                build_record(
                    inference_time=hour + timedelta(seconds=i),
                    request=Payload("text/csv", f"{i % 100},{y_of(i)},{i},{-i}".encode()),
                    response=Payload("text/csv", f"{label_of(i)}".encode()),
                )
            )


def test_columns_only_traffic_brings_are_violations_not_series(
    tmp_path: Path,
    baseline: tuple[Path, Path],
    metrics: tuple[AnalyzerMetrics, MetricsServer],
    stop: threading.Event,
) -> None:
    registry, server = metrics
    hour = at("2026-11-25T08:00")
    write_wide_captures(tmp_path / "capture", hour, 200)
    scheduler = scheduler_of(endpoint(tmp_path, baseline), registry, lambda: at("2026-11-25T09:30"))

    scheduler.loop(stop, once=True)

    assert scheduler.statuses == {"CompletedWithViolations": 1}
    seen = scrape(server)
    features = {dict(key)["feature"] for name, key in seen if "feature" in dict(key)}
    assert features == {"label", "x", "y"}
    assert seen[("infertap_violations", labels(check="extra_column_check"))] == 2
    statistics_path = (
        tmp_path / "reports" / partition_key(ENDPOINT, VARIANT, hour) / "statistics.json"
    )
    statistics = json.loads(statistics_path.read_text())
    assert [f["name"] for f in statistics["features"]] == ["label", "x", "y", "_c3", "_c4"]


def test_max_runtime_comes_from_the_flag_or_the_file_and_stopped_exits_3(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    write_captures(tmp_path / "capture", at("2026-11-25T08:00"), TRAIN_X)
    config = write_config(tmp_path, *baseline, broken=False)
    once = ["schedule", "--config", str(config), "--once", "--now", "2026-11-25T09:30:00Z"]
    once += ["--catch-up-hours", "1"]

    flagged = analyzer(*once, env={"INFERTAP_MAX_RUNTIME": "0.000001"})
    assert flagged.returncode == 3, flagged.stderr
    assert record_of(tmp_path, at("2026-11-25T08:00"))["status"] == "Stopped"

    document = yaml.safe_load(config.read_text())
    document["defaults"]["max_runtime"] = 3600  # the file's key wins over the flag
    config.write_text(yaml.safe_dump(document))
    done = analyzer(*once, "--max-runtime", "0.000001")
    assert done.returncode == 0, done.stderr
    assert record_of(tmp_path, at("2026-11-25T08:00"))["status"] == "Completed"

    document["defaults"]["max_runtime"] = 0
    config.write_text(yaml.safe_dump(document))
    bad = analyzer(*once)
    assert bad.returncode == 2
    assert "defaults.max_runtime: must be a positive number of seconds, got 0" in bad.stderr
