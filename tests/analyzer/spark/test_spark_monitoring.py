"""Monitoring runs on Spark: captures read by executors (from S3 too) give the local results."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from analyzer.__main__ import main
from analyzer.commands.baseline import create_baseline
from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines.local import profile_files as locally
from analyzer.engines.spark.captures import profile_files as on_spark
from analyzer.reading.storage import list_objects_sync
from analyzer.reading.window import TimeWindow
from tests.analyzer.captures import (
    ENDPOINT,
    HOUR,
    chunks,
    csv_record,
    json_record,
    write_local,
    write_s3,
)
from tests.analyzer.spark.compare import assert_same_profile
from tests.conftest import S3Server

COLUMNS = ["y", "a", "b"]
WINDOW = ["--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"]
SAMPLE_COLUMNS = tuple(f"c{i}" for i in range(70))  # the sample's output, then its 69 inputs


def messy_lines(count: int) -> list[bytes]:
    """Records with strings, missing values, JSON payloads, errors and bad lines among them."""
    lines = []
    for i in range(count):
        when = HOUR + timedelta(seconds=i % 3600)
        if i % 97 == 0:
            lines.append(b'{"captureData": not json\n')
        elif i % 89 == 0:
            lines.append(json_record({"a": i % 9, "b": "x"}, {"y": 0.25}, when))
        elif i % 31 == 0:
            lines.append(csv_record(f"n/a,{i % 5}", "0.5", when))
        elif i % 23 == 0:
            lines.append(csv_record(f",{i % 5}", "0.5", when))
        else:
            lines.append(csv_record(f"{i % 10},{i % 5}", f"{i % 7 / 10}", when))
    return lines


def test_sample_captures_on_s3_profile_as_locally(
    spark: Any, s3_server: S3Server, s3_bucket: str, shared_data: Path
) -> None:
    sample = (shared_data / "sagemaker-capture-sample.jsonl").read_bytes().splitlines(True)
    client = s3_server.client()
    for copy in range(6):
        lines = sample * 40 + [b"not a record\n"] * copy
        write_s3(client, s3_bucket, "capture", HOUR + timedelta(minutes=copy), lines)
    files = list_objects_sync(f"s3://{s3_bucket}/capture/")
    assert len(files) == 6
    options = DecodeOptions(SAMPLE_COLUMNS)
    window = TimeWindow("2022-04-18T00:00:00", "2022-04-18T01:00:00")

    spread = on_spark(spark, files, options, 4, window)
    local = locally(files, options, 1, 4, window)

    assert_same_profile(spread.profile, local.profile)
    assert spread.counts.to_json() == local.counts.to_json()
    assert spread.counts.malformed_lines == 15
    assert spread.counts.files_read == 6


def test_a_run_on_spark_writes_the_local_run_files(spark: Any, tmp_path: Path) -> None:
    train = [f"{i % 7 / 10},{i % 10},{i % 5}" for i in range(300)]
    (tmp_path / "train.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(train) + "\n")
    create_baseline(str(tmp_path / "train.csv"), str(tmp_path / "baseline"))
    for part in chunks(messy_lines(3000), 5):
        write_local(tmp_path / "capture", HOUR, part)
    codes = {}
    for engine in ("local", "spark"):
        codes[engine] = main(
            [
                "run",
                "--captures", str(tmp_path / "capture"),
                "--endpoint-name", ENDPOINT,
                "--baseline-statistics", str(tmp_path / "baseline" / "statistics.json"),
                "--baseline-constraints", str(tmp_path / "baseline" / "constraints.json"),
                "--output", str(tmp_path / engine),
                *WINDOW,
                "--engine", engine,
            ]
        )  # fmt: skip
    assert codes["spark"] == codes["local"] == 1  # the strings in `a` are violations
    violations = {
        engine: json.loads((tmp_path / engine / "constraint_violations.json").read_text())
        for engine in codes
    }
    assert violations["spark"] == violations["local"]
    executions = {
        engine: json.loads((tmp_path / engine / "execution.json").read_text()) for engine in codes
    }
    assert executions["spark"]["counts"] == executions["local"]["counts"]
    assert executions["spark"]["counts"]["malformed_lines"] == len(range(0, 3000, 97))


def test_an_unknown_engine_is_refused(capsys: Any, tmp_path: Path) -> None:
    code = main(["baseline", "--dataset", "x.csv", "--output", str(tmp_path), "--engine", "spork"])
    assert code == 2
    assert "--engine must be one of local, spark, got 'spork'" in capsys.readouterr().err
