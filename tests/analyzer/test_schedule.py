"""`infertap-analyzer schedule`: configuration, which hours are due, real runs over captures."""

from __future__ import annotations

import json
import signal
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from analyzer.__main__ import main
from analyzer.errors import ConfigError
from analyzer.scheduling.config import DEFAULT_VARIANT, load_config
from analyzer.scheduling.planning import (
    due_at,
    due_hours,
    first_hour,
    latest_due_hour,
    next_due_time,
)
from sidecar.common.layout import partition_key
from tests.analyzer.monitoring_data import (
    DRIFTED_X,
    ENDPOINT,
    TRAIN_X,
    VARIANT,
    analyzer,
    make_baseline,
    stable_delay,
    start_scheduler,
    write_captures,
    write_config,
)
from tests.conftest import REPO_ROOT, S3Server, free_port, port_open, wait_until

H = timedelta(hours=1)
DELAY = timedelta(minutes=20)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_yaml(folder: Path, document: object) -> Path:
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return path


def endpoint(name: str = "churn", **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "baseline_statistics": "s3://b/baseline/statistics.json",
        "baseline_constraints": "s3://b/baseline/constraints.json",
        **extra,
    }


# --- configuration ---------------------------------------------------------------------------


def test_config_applies_defaults_and_resolves_relative_paths(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        {
            "defaults": {"captures": "capture", "output": "s3://b/monitoring", "delay": 5},
            "endpoints": [
                endpoint(),
                endpoint("fraud", variant="Canary", output="reports", delay=0, monitor="input"),
            ],
        },
    )
    config = load_config(path)
    first, second = config.endpoints
    assert config.delay_minutes == 5
    assert (first.name, first.variant) == ("churn", DEFAULT_VARIANT)
    assert first.captures == str(tmp_path / "capture")
    assert first.output == "s3://b/monitoring"
    assert first.delay_minutes is None  # Resolved by the command: --delay beats defaults.delay.
    assert first.options == {}
    assert (second.variant, second.output) == ("Canary", str(tmp_path / "reports"))
    assert second.delay_minutes == 0
    assert second.options == {"monitor": "input"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {
                "defaults": {"captures": "c", "output": "o"},
                "endpoints": [endpoint(), {"name": "x"}],
            },
            "endpoints[1].baseline_statistics: missing; add the URL of the baseline statistics",
        ),
        (
            {"endpoints": [endpoint()]},
            "endpoints[0].captures: missing; add the capture prefix",
        ),
        (
            {"defaults": {"captures": "c", "output": "o"}, "endpoints": [endpoint(colour="red")]},
            "endpoints[0].colour: unknown key; known keys are",
        ),
        (
            {"defaults": {"captures": "c", "output": "o"}, "endpoints": [endpoint(), endpoint()]},
            "endpoints[1]: churn/AllTraffic is already configured at endpoints[0]",
        ),
        (
            {
                "defaults": {"captures": "c", "output": "o", "delay": "soon"},
                "endpoints": [endpoint()],
            },
            "defaults.delay: must be a number of minutes, got 'soon'",
        ),
        (
            {"defaults": {"captures": "c", "output": "o"}, "endpoints": [endpoint(delay=-1)]},
            "endpoints[0].delay: must be between 0 and 1440 minutes",
        ),
        (
            {"defaults": {"captures": "c", "output": "o"}, "endpoints": [endpoint("a/b")]},
            "endpoints[0].name: must be 1-63 letters, digits",
        ),
        (
            {"defaults": {"captures": "c", "output": "o"}, "endpoints": [endpoint(workers="many")]},
            "endpoints[0].workers: must be of type int, got 'many'",
        ),
        ({"endpoints": []}, "endpoints: missing or empty; list at least one endpoint"),
        ({"endpoint": [endpoint()]}, "endpoint: unknown top-level key"),
        ({"defaults": {"name": "x"}, "endpoints": [endpoint()]}, "defaults.name: each endpoint"),
        ("endpoints: [unclosed", "not valid YAML"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(
    tmp_path: Path, document: object, message: str
) -> None:
    path = write_yaml(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_shipped_kubernetes_config_is_valid() -> None:
    config = load_config(REPO_ROOT / "deploy" / "analyzer" / "monitor.yaml")
    assert config.endpoints and config.delay_minutes == 20
    assert all(e.baseline_statistics.startswith("s3://") for e in config.endpoints)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the configuration file .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


# --- which hours are due ---------------------------------------------------------------------


def test_an_hour_is_due_after_it_closed_plus_the_delay() -> None:
    assert due_at(at("2026-11-25T09:00"), DELAY) == at("2026-11-25T10:20")
    assert latest_due_hour(at("2026-11-25T10:19:59"), DELAY) == at("2026-11-25T08:00")
    assert latest_due_hour(at("2026-11-25T10:20:00"), DELAY) == at("2026-11-25T09:00")
    assert latest_due_hour(at("2026-11-25T10:59:59"), DELAY) == at("2026-11-25T09:00")
    assert latest_due_hour(at("2026-11-25T10:00:00"), timedelta(0)) == at("2026-11-25T09:00")
    # A delay over an hour pushes the run past the next hour boundary.
    assert latest_due_hour(at("2026-11-25T11:29"), timedelta(minutes=90)) == at("2026-11-25T08:00")


def test_next_due_time_is_the_next_hour_boundary_plus_the_delay() -> None:
    assert next_due_time(at("2026-11-25T10:25"), DELAY) == at("2026-11-25T11:20")
    assert next_due_time(at("2026-11-25T10:19"), DELAY) == at("2026-11-25T10:20")
    assert next_due_time(at("2026-11-25T10:20"), DELAY) == at("2026-11-25T11:20")


def test_catch_up_covers_the_last_n_due_hours() -> None:
    now = at("2026-11-25T10:25")
    assert first_hour(now, DELAY, 3) == at("2026-11-25T07:00")
    assert first_hour(now, DELAY, 1) == at("2026-11-25T09:00")
    # None at start: the first run is the hour that becomes due next.
    assert first_hour(now, DELAY, 0) == at("2026-11-25T10:00")
    assert due_hours(now, DELAY, first_hour(now, DELAY, 0), set()) == []
    assert due_hours(at("2026-11-25T11:20"), DELAY, first_hour(now, DELAY, 0), set()) == [
        at("2026-11-25T10:00")
    ]
    with pytest.raises(ValueError, match="catch_up_hours"):
        first_hour(now, DELAY, -1)


def test_due_hours_are_oldest_first_and_skip_done_ones() -> None:
    now = at("2026-11-25T10:25")
    since = first_hour(now, DELAY, 5)
    done = {at("2026-11-25T06:00"), at("2026-11-25T08:00")}
    assert due_hours(now, DELAY, since, done) == [
        at("2026-11-25T05:00"),
        at("2026-11-25T07:00"),
        at("2026-11-25T09:00"),
    ]
    assert due_hours(now, DELAY, since, done, limit=1) == [at("2026-11-25T05:00")]
    # Later, the next hour joins; across midnight too.
    assert due_hours(at("2026-11-26T00:20"), DELAY, at("2026-11-25T22:00"), set()) == [
        at("2026-11-25T22:00"),
        at("2026-11-25T23:00"),
    ]


# --- the command ------------------------------------------------------------------------------

NOW = "2026-11-25T10:30:00Z"
REPORT_FILES = {"statistics.json", "constraint_violations.json", "execution.json", "report.html"}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_baseline(tmp_path_factory.mktemp("baseline"))


def run_logs(stderr: str) -> list[dict[str, Any]]:
    """The scheduler's JSON log lines about runs (finished or skipped)."""
    entries = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [e for e in entries if "hour" in e]


def test_once_writes_sagemaker_reports_and_survives_a_failing_endpoint(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    write_captures(tmp_path / "capture", at("2026-11-25T08:00"), TRAIN_X)
    write_captures(tmp_path / "capture", at("2026-11-25T09:00"), DRIFTED_X)
    write_captures(tmp_path / "capture", at("2026-11-25T10:00"), DRIFTED_X)  # Not due yet.
    config = write_config(tmp_path, *baseline)
    args: tuple[str, ...] = ("schedule", "--config", str(config), "--once", "--now", NOW)
    args += ("--catch-up-hours", "3")
    args += ("--concurrency", "2")  # The two endpoints at once.

    done = analyzer(*args)

    # The broken endpoint (missing baseline) fails both its hours; churn's runs still happen.
    assert done.returncode == 2, done.stderr
    day = tmp_path / "reports" / ENDPOINT / VARIANT / "2026" / "11" / "25"
    assert sorted(p.name for p in day.iterdir()) == ["07", "08", "09"]
    for hour in ("08", "09"):
        assert {p.name for p in (day / hour).iterdir()} >= REPORT_FILES
    assert json.loads((day / "08" / "execution.json").read_text())["status"] == "Completed"
    assert json.loads((day / "09" / "execution.json").read_text())["status"] == (
        "CompletedWithViolations"
    )
    statistics = json.loads((day / "09" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == len(DRIFTED_X)
    violations = json.loads((day / "09" / "constraint_violations.json").read_text())["violations"]
    assert {"feature_name": "x", "constraint_check_type": "baseline_drift_check"}.items() <= (
        next(v for v in violations if v["feature_name"] == "x").items()
    )
    finished = {
        (e["endpoint"], e["hour"]): e["status"]
        for e in run_logs(done.stderr)
        if e["message"] == "scheduled run finished"
    }
    assert finished == {
        ("broken", "2026-11-25T07Z"): "Failed",
        ("broken", "2026-11-25T08Z"): "Failed",
        ("broken", "2026-11-25T09Z"): "Failed",
        (ENDPOINT, "2026-11-25T07Z"): "Failed",  # No captures in that hour.
        (ENDPOINT, "2026-11-25T08Z"): "Completed",
        (ENDPOINT, "2026-11-25T09Z"): "CompletedWithViolations",
    }

    # A restart does not redo finished hours; failed ones are tried again.
    written = {p: p.stat().st_mtime_ns for p in (day / "08").iterdir()}
    again = analyzer(*args)
    assert again.returncode == 2, again.stderr
    assert {p: p.stat().st_mtime_ns for p in (day / "08").iterdir()} == written
    skipped = {
        (e["endpoint"], e["hour"]) for e in run_logs(again.stderr) if "skipping" in e["message"]
    }
    assert skipped == {(ENDPOINT, "2026-11-25T08Z"), (ENDPOINT, "2026-11-25T09Z")}


def test_flags_come_from_the_environment_and_violations_exit_1(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    write_captures(tmp_path / "capture", at("2026-11-25T09:00"), DRIFTED_X)
    config = write_config(tmp_path, *baseline, broken=False)
    env = {"INFERTAP_CATCH_UP_HOURS": "1", "INFERTAP_ONCE": "true", "INFERTAP_NOW": NOW}
    done = analyzer("schedule", "--config", str(config), env=env)
    assert done.returncode == 1, done.stderr
    day = tmp_path / "reports" / ENDPOINT / VARIANT / "2026" / "11" / "25"
    assert [p.name for p in day.iterdir()] == ["09"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--config", "/nonexistent/monitor.yaml"], "cannot read the configuration file"),
        ([], "--config is required"),
        (["--config", "{config}", "--now", NOW], "--now only works with --once"),
        (["--config", "{config}", "--delay", "-5"], "--delay must be between 0 and 1440"),
        (
            ["--config", "{config}", "--metrics-listen", "9091"],
            "--metrics-listen must be HOST:PORT",
        ),
    ],
)
def test_bad_options_exit_2_with_a_message_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    config = write_config(tmp_path, tmp_path / "s.json", tmp_path / "c.json", broken=False)
    argv = [a.replace("{config}", str(config)) for a in argv]
    assert main(["schedule", *argv]) == 2
    assert message in capsys.readouterr().err


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_restarted_scheduler_skips_finished_hours_and_shows_the_newest(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    now = datetime.now(UTC)
    delay = stable_delay(now)
    newest = latest_due_hour(now, timedelta(minutes=delay))
    write_captures(tmp_path / "capture", newest - H, TRAIN_X)
    write_captures(tmp_path / "capture", newest, DRIFTED_X)
    config = write_config(tmp_path, *baseline, broken=False)
    first = analyzer(
        "schedule",
        "--config",
        str(config),
        "--once",
        "--delay",
        str(delay),
        "--catch-up-hours",
        "2",
    )
    assert first.returncode == 1, first.stderr
    record = json.loads(
        (tmp_path / "reports" / partition_key(ENDPOINT, VARIANT, newest) / "execution.json")
        .read_text()
    )  # fmt: skip

    port = free_port()
    log_path = tmp_path / "schedule.log"
    process = start_scheduler(config, port, delay, log_path)
    series = {"endpoint": ENDPOINT, "variant": VARIANT}
    drift_key = ("infertap_feature_baseline_drift", frozenset({**series, "feature": "x"}.items()))
    try:
        wait_until(
            lambda: port_open(port) and drift_key in scrape(port), timeout=30, what="restored drift"
        )
        seen = scrape(port)
        assert seen[drift_key] == record["feature_drift"]["x"]
        status = (
            "infertap_execution_status",
            frozenset({**series, "status": record["status"]}.items()),
        )
        assert seen[status] == 1
        # Nothing ran again: the counters of this process are still zero.
        runs = {k: v for k, v in seen.items() if k[0] == "infertap_monitoring_runs_total"}
        assert runs and set(runs.values()) == {0.0}
        assert scrape(port)[("infertap_monitoring_pending_runs", frozenset(series.items()))] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            assert health.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log_path.read_text()


def test_once_reads_and_writes_s3(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                  baseline: tuple[Path, Path]) -> None:  # fmt: skip
    client = s3_server.client()
    capture = write_captures(tmp_path / "capture", at("2026-11-25T09:00"), DRIFTED_X)
    key = capture.relative_to(tmp_path).as_posix()  # capture/churn/AllTraffic/2026/11/25/09/…
    client.upload_file(str(capture), s3_bucket, key)
    for path in baseline:
        client.upload_file(str(path), s3_bucket, f"baseline/{path.name}")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "defaults": {
                    "captures": f"s3://{s3_bucket}/capture",
                    "output": f"s3://{s3_bucket}/reports",
                },
                "endpoints": [
                    endpoint(
                        baseline_statistics=f"s3://{s3_bucket}/baseline/statistics.json",
                        baseline_constraints=f"s3://{s3_bucket}/baseline/constraints.json",
                    )
                ],
            }
        )
    )
    args: tuple[str, ...] = ("schedule", "--config", str(config), "--once", "--now", NOW)
    args += ("--catch-up-hours", "1")
    args += ("--delay", "0")
    done = analyzer(*args, env=s3_server.env())
    assert done.returncode == 1, done.stderr
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="reports/")["Contents"]
    prefix = f"reports/{ENDPOINT}/{VARIANT}/2026/11/25/09/"
    assert {o["Key"] for o in listed} == {prefix + name for name in REPORT_FILES}
    record = json.loads(
        client.get_object(Bucket=s3_bucket, Key=prefix + "execution.json")["Body"].read()
    )
    assert record["status"] == "CompletedWithViolations"
    again = analyzer(*args, env=s3_server.env())
    assert again.returncode == 0, again.stderr  # Nothing ran: the hour is done.
    assert [e["status"] for e in run_logs(again.stderr)] == ["CompletedWithViolations"]


def test_config_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "defaults:\n"
        "  captures: c\n"
        "  output: o\n"
        "endpoints:\n"
        "  - name: churn\n"
        "    baseline_statistics: s.json\n"
        "    baseline_constraints: c.json\n"
        "    output_columns: two\n"
        "  - name: fraud\n"
        "    baseline_constraints: c.json\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}:8: endpoints[0].output_columns: must be of type int | None, got 'two'"
    )
    path.write_text(path.read_text().replace("output_columns: two", "output_columns: 2"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    # A missing key is shown at the line of the mapping it is missing from.
    assert str(caught.value).startswith(f"{path}:9: endpoints[1].baseline_statistics: missing")
