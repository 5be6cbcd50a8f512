"""`quality-baseline` then `quality-run` on local folders and on a real S3 server (moto)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from analyzer.__main__ import main
from tests.analyzer.quality_data import (
    capture_file,
    label_file,
    label_lines,
    quality_args,
    scored_record,
)
from tests.conftest import S3Server

ROWS = 250


def _score(i: int) -> float:
    return ((i * 37) % 100) / 100


def _truth(i: int) -> int:
    label = int(_score(i) > 0.5)
    return 1 - label if i % 10 == 0 else label


def _baseline(root: Path) -> None:
    lines = ["label,prediction,probability"]
    lines += [f"{_truth(i)},{int(_score(i) > 0.5)},{_score(i)}" for i in range(ROWS)]
    (root / "val.csv").write_text("\n".join(lines) + "\n")
    code = main(
        [
            *("quality-baseline", "--dataset", str(root / "val.csv"), "--header"),
            *("--problem-type", "BinaryClassification", "--ground-truth-attribute", "label"),
            *("--inference-attribute", "prediction", "--probability-attribute", "probability"),
            *("--output", str(root / "baseline")),
        ]
    )
    assert code == 0


def _execution(root: Path, output: str = "out") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((root / output / "execution.json").read_text())
    return document


@pytest.fixture
def hour(tmp_path: Path) -> Path:
    """A baseline, an hour of scored captures, labels for all of them, and bad inputs."""
    _baseline(tmp_path)
    captures = [scored_record(f"r{i}", str(_score(i))) for i in range(ROWS)]
    captures += [
        scored_record("bad-1", "1.7"),  # probability outside [0, 1]
        scored_record("bad-2", "nan"),  # NaN
        scored_record("bad-3", {"other": 1}, csv=False),  # no column 0 in a JSON output
        scored_record(None, "0.9"),  # no inference id: its eventId has no label
        b"not a capture\n",
    ]
    capture_file(tmp_path, captures)
    labels = label_lines([(f"r{i}", _truth(i)) for i in range(ROWS)])
    labels += label_lines([("orphan-1", 1), ("orphan-2", 0), ("r1", _truth(1))])
    labels += b"garbage\n" + label_lines([("r2", 7)])  # unreadable, then not binary
    label_file(tmp_path, labels, minutes=1)
    # Written later: wins over the first label of r3 (a conflicting duplicate).
    label_file(tmp_path, label_lines([("r3", 1 - _truth(3))]), minutes=2)
    label_file(tmp_path, label_lines([("r3", _truth(3))]), minutes=3)
    return tmp_path


def test_good_hour_completes_with_counts(hour: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(quality_args(hour)) == 0
    record = _execution(hour)
    assert record["status"] == "Completed", record["failure_reason"]
    counts = record["counts"]
    assert counts["joined"] == ROWS == record["item_count"]
    assert counts["captures"] == ROWS + 5
    assert counts["malformed_captures"] == 1
    assert counts["invalid_probabilities"] == 2
    assert counts["missing_predictions"] == 1
    assert counts["unlabelled_captures"] == 1
    assert counts["orphan_labels"] == 2
    assert counts["duplicate_labels_same"] == 1  # r1 again
    # r3: each later file contradicts the label before it; the last written (its truth) wins.
    assert counts["duplicate_labels_conflicting"] == 2
    assert counts["unreadable_labels"] == 1
    assert counts["invalid_labels"] == 1
    assert record["label_coverage"] == pytest.approx(ROWS / (ROWS + 1))
    assert record["label_delay_seconds"] == {"mean": 3 * 3600.0, "max": 3 * 3600.0}
    statistics = json.loads((hour / "out" / "statistics.json").read_text())
    assert statistics["dataset"] == {"item_count": ROWS}
    assert "estimated_binary_classification_metrics" in statistics
    violations = (hour / "out" / "constraint_violations.json").read_text()
    assert violations == '{\n  "violations" : [ ]\n}\n'
    out = capsys.readouterr().out
    assert "2 scores are outside [0, 1] or NaN (skipped)" in out
    assert "1 ground-truth lines do not parse" in out


def test_failing_hour_reports_violations_in_sagemaker_wording(tmp_path: Path) -> None:
    _baseline(tmp_path)
    capture_file(tmp_path, [scored_record(f"r{i}", str(_score(i))) for i in range(ROWS)])
    label_file(tmp_path, label_lines([(f"r{i}", 1 - _truth(i)) for i in range(ROWS)]))
    assert main(quality_args(tmp_path)) == 1
    assert _execution(tmp_path)["status"] == "CompletedWithViolations"
    document = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    by_metric = {v["metric_name"]: v for v in document["violations"]}
    assert list(by_metric["f2"]) == ["constraint_check_type", "description", "metric_name"]
    assert by_metric["f2"]["constraint_check_type"] == "LessThanThreshold"
    assert re.fullmatch(
        r"Metric f2 with [0-9.e-]+ was LessThanThreshold [0-9.e-]+", by_metric["f2"]["description"]
    )
    assert by_metric["false_positive_rate"]["constraint_check_type"] == "GreaterThanThreshold"
    assert not any(name.endswith("_best_constant_classifier") for name in by_metric)


def test_nothing_joined_fails_saying_what_each_side_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _baseline(tmp_path)
    capture_file(tmp_path, [scored_record(f"r{i}", "0.7") for i in range(10)])
    label_file(tmp_path, label_lines([(f"other-{i}", 1) for i in range(4)]))
    assert main(quality_args(tmp_path)) == 2
    record = _execution(tmp_path)
    assert record["status"] == "Failed"
    reason = record["failure_reason"]
    assert "no captured prediction joined a label: 10 capture records" in reason
    assert "4 labels in 1 files" in reason
    assert "Failed: no captured prediction joined" in capsys.readouterr().err
    # Before labels land, the estimates are still written.
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert statistics["estimated_binary_classification_metrics"]["item_count"] == 10


def test_missing_baseline_fails_with_the_fix(tmp_path: Path) -> None:
    capture_file(tmp_path, [scored_record("r1", "0.7")])
    assert main(quality_args(tmp_path)) == 2
    assert "does not exist" in _execution(tmp_path)["failure_reason"]


def test_problem_type_contradicting_the_labels_is_named(
    hour: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    label_file(hour, label_lines([(f"x{i}", 3) for i in range(5)]), minutes=4)
    assert main(quality_args(hour)) == 0
    assert _execution(hour)["counts"]["invalid_labels"] == 6
    assert "labels do not fit the problem type (skipped; check --problem-type)" in (
        capsys.readouterr().out
    )


def test_runs_against_s3(hour: Path, s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    for path in hour.rglob("*"):
        if path.is_file() and path.parts[len(hour.parts)] in ("capture", "labels", "baseline"):
            client.put_object(
                Bucket=s3_bucket, Key=str(path.relative_to(hour)), Body=path.read_bytes()
            )
    args = quality_args(hour)
    s3 = {
        "--captures": f"s3://{s3_bucket}/capture",
        "--ground-truth": f"s3://{s3_bucket}/labels",
        "--baseline-constraints": f"s3://{s3_bucket}/baseline/constraints.json",
        "--output": f"s3://{s3_bucket}/reports",
    }
    args = [s3.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
    assert main(args) == 0
    record = json.loads(
        client.get_object(Bucket=s3_bucket, Key="reports/execution.json")["Body"].read()
    )
    assert record["status"] == "Completed"
    assert record["counts"]["joined"] == ROWS
    assert record["counts"]["duplicate_labels_conflicting"] == 2
