"""The engine choice reaches a run from the schedule's config; a wrong one fails the run, named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from analyzer.commands.baseline import create_baseline
from analyzer.pipeline.monitoring import run_monitoring
from analyzer.scheduling.config import parse_config
from analyzer.scheduling.jobs import build_job
from tests.analyzer.captures import csv_record, write_local

HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)  # tests.analyzer.captures' hour


def config(engine: str, tmp_path: Path) -> dict[str, object]:
    return {
        "defaults": {"captures": str(tmp_path), "output": str(tmp_path / "out"), "engine": engine},
        "endpoints": [
            {
                "name": "churn",
                "baseline_statistics": str(tmp_path / "statistics.json"),
                "baseline_constraints": str(tmp_path / "constraints.json"),
                "spark_master": "local[2]",
            }
        ],
    }


def test_the_schedule_passes_engine_and_master_to_each_run(tmp_path: Path) -> None:
    parsed = parse_config(config("spark", tmp_path))
    job = build_job(parsed.endpoints[0], HOUR)
    assert (job.engine, job.spark_master) == ("spark", "local[2]")


def test_an_unknown_engine_fails_the_run_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("y,a\n0.5,1\n0.25,2\n")
    create_baseline(str(tmp_path / "train.csv"), str(tmp_path))
    write_local(tmp_path, HOUR, [csv_record("1", "0.5"), csv_record("2", "0.25")])
    job = build_job(parse_config(config("spork", tmp_path)).endpoints[0], HOUR)
    result = run_monitoring(job)
    assert result.status == "Failed"
    assert result.failure_reason == "--engine must be one of local, spark, got 'spork'"
