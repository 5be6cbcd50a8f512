"""`infertap-analyzer run`: statuses, exit codes, bad input counted, S3 and several processes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

from analyzer.__main__ import main
from analyzer.commands.baseline import create_baseline
from analyzer.job import MonitoringJob
from analyzer.pipeline.monitoring import run_monitoring
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED
from tests.analyzer.captures import (
    ENDPOINT,
    HOUR,
    VARIANT,
    chunks,
    csv_record,
    write_local,
    write_s3,
)
from tests.conftest import REPO_ROOT, S3Server

COLUMNS = ["y", "a", "b", "c"]
WINDOW = ["--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"]


def rows(count: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [
        [f"{rng.uniform():.3f}", str(rng.integers(0, 9)), str(rng.integers(0, 9)), str(c)]
        for c in rng.choice(["p", "q"], count)
    ]


def lines_of(table: list[list[str]]) -> list[bytes]:
    return [
        csv_record(",".join(r[1:]), r[0], HOUR + timedelta(seconds=i)) for i, r in enumerate(table)
    ]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("baseline")
    table = rows(300, seed=1)
    (folder / "train.csv").write_text(
        ",".join(COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in table)
    )
    create_baseline(str(folder / "train.csv"), str(folder))
    return folder


def job(captures: str, baseline: Path | str, output: str, **options: object) -> MonitoringJob:
    base = str(baseline)
    return MonitoringJob(
        captures=captures,
        endpoint_name=ENDPOINT,
        variant_name=VARIANT,
        baseline_statistics=f"{base}/statistics.json",
        baseline_constraints=f"{base}/constraints.json",
        start=HOUR,
        end=HOUR + timedelta(hours=1),
        output=output,
        **options,  # type: ignore[arg-type]
    )


def cli(*args: str) -> list[str]:
    return ["--endpoint-name", ENDPOINT, *WINDOW, *args]


def test_bad_input_is_counted_and_reported_never_fatal(baseline: Path, tmp_path: Path) -> None:
    good = lines_of(rows(80, seed=2))
    png = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "image/png",
                "mode": "INPUT",
                "data": base64.b64encode(b"\x89PNG\r\n").decode(),
                "encoding": "BASE64",
            }
        },
        "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-25T08:00:00Z"},
        "eventVersion": "0",
    }
    bad_json = orjson.loads(good[0])
    bad_json["captureData"]["endpointInput"].update(
        observedContentType="application/json", encoding="JSON", data='{"a": '
    )
    first = [
        *good[:40],
        b"{this is not json\n",
        csv_record("5,6", "0.5"),  # too few values: c is missing
        csv_record("x,1,p", "0.5"),  # not a number in Integral column a
        orjson.dumps(png) + b"\n",
        orjson.dumps(bad_json) + b"\n",
    ]
    write_local(tmp_path / "capture", HOUR, first)
    second = b"".join(good[40:])
    write_local(tmp_path / "capture", HOUR, [second, good[0][:30]])  # last line cut mid-way

    output = tmp_path / "report"
    code = main(
        [
            "run",
            "--captures",
            str(tmp_path / "capture"),
            "--baseline-statistics",
            str(baseline / "statistics.json"),
            "--baseline-constraints",
            str(baseline / "constraints.json"),
            "--output",
            str(output),
            *cli(),
        ]
    )
    assert code == 1
    record = json.loads((output / "execution.json").read_text())
    assert record["status"] == COMPLETED_WITH_VIOLATIONS
    counts = record["counts"]
    assert counts["files"] == 2
    assert counts["records"] == 84
    assert record["records_analyzed"] == 82  # the PNG and the broken JSON give no rows
    assert counts["rows"] == 82
    assert counts["malformed_lines"] == 1
    assert counts["truncated_files"] == 1
    assert counts["wrong_column_count"] == 1
    assert counts["non_numeric_values"] == 1
    assert counts["base64_payloads"] == 1
    assert counts["decode_errors"] == 1
    assert any("truncated" not in w and "cut mid-way" in w for w in record["warnings"])
    violations = json.loads((output / "constraint_violations.json").read_text())["violations"]
    assert sorted((v["feature_name"], v["constraint_check_type"]) for v in violations) == [
        ("a", "data_type_check"),
        ("c", "completeness_check"),
    ]
    data_type = next(v for v in violations if v["feature_name"] == "a")["description"]
    assert data_type == (
        "Data type match requirement is not met. Expected data type: Integral, Expected match: "
        f"100.0%. Observed: Only {81 / 82 * 100!r}% of data is Integral."
    )


def test_exit_codes_and_failure_reasons_through_the_real_cli(
    baseline: Path, tmp_path: Path
) -> None:
    captures = tmp_path / "capture"
    common = [
        "--captures",
        str(captures),
        "--baseline-statistics",
        str(baseline / "statistics.json"),
        "--baseline-constraints",
        str(baseline / "constraints.json"),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "analyzer", "run", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)

    empty = run(*common, "--output", str(tmp_path / "none"), *cli())
    assert empty.returncode == 2
    reason = (
        f"no capture files under {captures}/{ENDPOINT}/{VARIANT}/ "
        "for 2026-11-25T08:00Z–09:00Z"  # noqa: RUF001
    )
    assert f"Failed: {reason}" in empty.stderr
    record = json.loads((tmp_path / "none" / "execution.json").read_text())
    assert (record["status"], record["failure_reason"]) == (FAILED, reason)
    assert not (tmp_path / "none" / "statistics.json").exists()

    for part in chunks(lines_of(rows(60, seed=3)), 2):
        write_local(captures, HOUR, part)
    clean = run(*common, "--output", str(tmp_path / "ok"), *cli())
    assert clean.returncode == 0, clean.stderr
    assert "Completed: Job completed successfully with no violations." in clean.stdout

    missing = run(
        *common[:2],
        "--baseline-statistics",
        str(tmp_path / "nope.json"),
        "--baseline-constraints",
        str(baseline / "constraints.json"),
        "--output",
        str(tmp_path / "bad"),
        *cli(),
    )
    assert missing.returncode == 2
    assert "nope.json does not exist" in missing.stderr

    usage = run("--output", str(tmp_path / "x"), *cli())
    assert usage.returncode == 2
    assert "--captures is required (or set INFERTAP_CAPTURES)" in usage.stderr

    helped = run("--help")
    assert helped.returncode == 0
    assert "0  Completed" in helped.stdout and "1  CompletedWithViolations" in helped.stdout
    assert "2  Failed" in helped.stdout


def test_flags_come_from_the_environment(
    baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_local(tmp_path / "capture", HOUR, lines_of(rows(30, seed=4)))
    monkeypatch.setenv("INFERTAP_CAPTURES", str(tmp_path / "capture"))
    monkeypatch.setenv("INFERTAP_BASELINE_STATISTICS", str(baseline / "statistics.json"))
    monkeypatch.setenv("INFERTAP_BASELINE_CONSTRAINTS", str(baseline / "constraints.json"))
    monkeypatch.setenv("INFERTAP_OUTPUT", str(tmp_path / "out"))
    assert main(["run", *cli()]) == 0
    assert (tmp_path / "out" / "statistics.json").exists()


def test_window_without_an_hour_start_fails_clearly(baseline: Path, tmp_path: Path) -> None:
    quarter = job(str(tmp_path), baseline, str(tmp_path / "out"))
    quarter.start = HOUR + timedelta(minutes=10)
    quarter.end = HOUR + timedelta(minutes=50)
    result = run_monitoring(quarter)
    assert result.status == FAILED
    assert result.failure_reason is not None and "holds no hour start" in result.failure_reason


def test_s3_captures_baseline_and_output_with_two_processes(
    s3_server: S3Server, s3_bucket: str, baseline: Path, tmp_path: Path
) -> None:
    client = s3_server.client()
    for name in ("statistics.json", "constraints.json"):
        client.put_object(
            Bucket=s3_bucket, Key=f"baseline/{name}", Body=(baseline / name).read_bytes()
        )
    table = rows(400, seed=5)
    for part in chunks(lines_of(table), 4):
        write_s3(client, s3_bucket, "datacapture", HOUR, part)
        write_local(tmp_path / "capture", HOUR, part)

    remote = run_monitoring(
        job(
            f"s3://{s3_bucket}/datacapture",
            f"s3://{s3_bucket}/baseline",
            f"s3://{s3_bucket}/reports/run1",
            workers=2,
        )
    )
    local = run_monitoring(job(str(tmp_path / "capture"), baseline, str(tmp_path / "out")))
    assert remote.status == local.status == COMPLETED, remote.failure_reason
    assert remote.records_analyzed == local.records_analyzed == 400
    assert remote.counts.files == 4
    assert remote.statistics is not None and local.statistics is not None
    for theirs, ours in zip(remote.statistics.features, local.statistics.features, strict=True):
        assert (theirs.name, theirs.num_present, theirs.num_missing) == (
            ours.name,
            ours.num_present,
            ours.num_missing,
        )
        if ours.mean is not None:
            assert theirs.mean == pytest.approx(ours.mean)
    keys = {
        o["Key"]
        for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="reports/run1/")["Contents"]
    }
    assert keys == {
        "reports/run1/statistics.json",
        "reports/run1/constraint_violations.json",
        "reports/run1/execution.json",
        "reports/run1/report.html",
    }


def test_input_only_captures_monitored_on_the_input_side(baseline: Path, tmp_path: Path) -> None:
    table = rows(60, seed=6)
    lines = [csv_record(",".join(r[1:]), None) for r in table]
    write_local(tmp_path / "capture", HOUR, lines)
    both = run_monitoring(job(str(tmp_path / "capture"), baseline, str(tmp_path / "both")))
    assert [(v.feature_name, v.constraint_check_type) for v in both.violations] == [
        ("y", "missing_column_check")
    ]
    inputs = run_monitoring(
        job(str(tmp_path / "capture"), baseline, str(tmp_path / "in"), monitor="input")
    )
    assert inputs.status == COMPLETED, [v.to_json() for v in inputs.violations]
    assert inputs.statistics is not None
    assert [f.name for f in inputs.statistics.features] == ["a", "b", "c"]


def test_batched_csv_requests_become_one_row_per_line(baseline: Path, tmp_path: Path) -> None:
    table = rows(40, seed=7)
    pairs = [table[i : i + 2] for i in range(0, len(table), 2)]
    lines = [
        csv_record("\n".join(",".join(r[1:]) for r in pair) + "\n", "\n".join(r[0] for r in pair))
        for pair in pairs
    ]
    write_local(tmp_path / "capture", HOUR, lines)
    result = run_monitoring(
        job(str(tmp_path / "capture"), baseline, str(tmp_path / "out"), output_columns=1)
    )
    assert result.status == COMPLETED, [v.to_json() for v in result.violations]
    assert (result.counts.records, result.counts.rows) == (20, 40)
    assert result.statistics is not None and result.statistics.item_count == 40


def test_records_are_chosen_by_hour_folder_and_odd_times_counted(
    baseline: Path, tmp_path: Path
) -> None:
    table = rows(30, seed=8)
    lines = lines_of(table[:28])
    # In the 08 folder but stamped outside 08:00-09:00 (a skewed clock, say): still analysed,
    # since no other hour's run reads this folder, and counted.
    lines.append(csv_record(",".join(table[28][1:]), table[28][0], HOUR - timedelta(seconds=1)))
    lines.append(csv_record(",".join(table[29][1:]), table[29][0], HOUR + timedelta(hours=1)))
    write_local(tmp_path / "capture", HOUR, lines)
    # Stamped inside the window but in the next hour's folder: that hour's run reads it.
    write_local(tmp_path / "capture", HOUR + timedelta(hours=1), lines_of(table[:5]))
    result = run_monitoring(job(str(tmp_path / "capture"), baseline, str(tmp_path / "out")))
    assert result.status == COMPLETED, [v.to_json() for v in result.violations]
    assert result.records_analyzed == 30
    assert result.counts.outside_window == 2
    assert "2 records analysed have an inferenceTime outside the window" in " ".join(
        result.warnings
    )
    record = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert record["counts"]["outside_window"] == 2


def test_a_bad_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--log-level", "verbose", *cli()]) == 2
    assert "--log-level must be one of debug, info, warning, error" in capsys.readouterr().err
