"""`infertap-analyzer baseline`, run as a user runs it: a subprocess writing real files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from analyzer.reporting.baseline_files import CategoricalBucket, FeatureStatistics, Statistics
from analyzer.suggesting.data_quality import suggest_constraints
from tests.analyzer.monitoring_data import analyzer as run_cli
from tests.conftest import S3Server


def string_feature(counts: dict[str, int], distinct: float | None = None) -> FeatureStatistics:
    return FeatureStatistics(
        name="s",
        inferred_type="String",
        num_present=sum(counts.values()),
        distinct_count=float(len(counts)) if distinct is None else distinct,
        categorical_buckets=[CategoricalBucket(v, c) for v, c in counts.items()],
    )


def test_domains_only_for_low_cardinality_repeated_values() -> None:
    few = string_feature({"b": 5, "a": 9, "c": 5})
    many = string_feature({f"v{i}": 3 for i in range(121)})
    singletons = string_feature({"a": 50, **{f"once{i}": 1 for i in range(3)}})
    numeric = FeatureStatistics(name="n", inferred_type="Integral", num_present=2, min=-1.0)
    stats = Statistics(item_count=19, features=[few, many, singletons, numeric])
    suggested = suggest_constraints(stats).features
    assert suggested[0].domains == ["a", "b", "c"]  # most frequent first
    assert suggested[1].domains is None  # more than 120 distinct values
    assert suggested[2].domains is None  # 3 of 4 values seen once
    assert suggested[3].is_non_negative is False and suggested[3].domains is None
    assert suggested[3].completeness == 1.0


def write_breast_cancer_csv(path: Path) -> np.ndarray:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["diagnosis", *data.feature_names])
        for features, label in zip(data.data, data.target, strict=True):
            writer.writerow([int(label), *(repr(float(v)) for v in features)])
    return np.column_stack([data.target, data.data])


def test_cli_baseline_of_a_labelled_csv(tmp_path: Path) -> None:
    matrix = write_breast_cancer_csv(tmp_path / "train.csv")
    result = run_cli(
        "baseline", "--dataset", str(tmp_path / "train.csv"), "--output", str(tmp_path / "out")
    )
    assert result.returncode == 0, result.stderr
    assert "statistics.json" in result.stdout
    stats = json.loads((tmp_path / "out" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert stats["version"] == 0.0 and stats["dataset"]["item_count"] == len(matrix)
    features = stats["features"]
    assert features[0]["name"] == "diagnosis" and features[0]["inferred_type"] == "Integral"
    assert all(f["inferred_type"] == "Fractional" for f in features[1:])
    for column, feature in enumerate(features):
        values = matrix[:, column]
        numerical = feature["numerical_statistics"]
        assert numerical["common"] == {"num_present": len(values), "num_missing": 0}
        assert (numerical["min"], numerical["max"]) == (values.min(), values.max())
        assert numerical["sum"] == pytest.approx(values.sum(), rel=1e-12)
        assert numerical["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert numerical["std_dev"] == pytest.approx(np.std(values, ddof=0), rel=1e-9)
        kll = numerical["distribution"]["kll"]
        assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
        exact, _ = np.histogram(values, bins=10, range=(values.min(), values.max()))
        assert [b["count"] for b in kll["buckets"]] == exact.tolist()  # 569 values: no compaction
    assert constraints["features"][0] == {
        "name": "diagnosis",
        "inferred_type": "Integral",
        "completeness": 1.0,
        "num_constraints": {"is_non_negative": True},
    }
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] == (
        "Robust"
    )
    text = (tmp_path / "out" / "statistics.json").read_text()
    assert text.startswith('{\n  "version": 0.0,\n  "dataset": {\n    "item_count": 569\n')


def test_cli_headerless_csv_and_environment_variables(tmp_path: Path) -> None:
    (tmp_path / "rows.txt").write_text("1,a\n2,b\n")
    result = run_cli(
        "baseline",
        "--no-header",
        "--format",
        "csv",
        env={"INFERTAP_DATASET": str(tmp_path / "rows.txt"), "INFERTAP_OUTPUT": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "statistics.json").read_text())
    assert [f["name"] for f in stats["features"]] == ["_c0", "_c1"]
    result = run_cli(
        "baseline",
        "--columns",
        "id,letter",
        env={
            "INFERTAP_DATASET": str(tmp_path / "rows.txt"),
            "INFERTAP_OUTPUT": str(tmp_path / "named"),
            "INFERTAP_HEADER": "false",
            "INFERTAP_FORMAT": "csv",
        },
    )
    assert result.returncode == 0, result.stderr
    named = json.loads((tmp_path / "named" / "statistics.json").read_text())
    assert [f["name"] for f in named["features"]] == ["id", "letter"]


def test_cli_reads_and_writes_s3(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="data/train.jsonl", Body=b'{"x": 1}\n{"x": 3}\n')
    result = run_cli(
        "baseline",
        "--dataset",
        f"s3://{s3_bucket}/data/train.jsonl",
        "--output",
        f"s3://{s3_bucket}/baseline",
        env=s3_server.env(),
    )
    assert result.returncode == 0, result.stderr
    body = client.get_object(Bucket=s3_bucket, Key="baseline/statistics.json")["Body"].read()
    assert json.loads(body)["features"][0]["numerical_statistics"]["mean"] == 2.0
    assert client.get_object(Bucket=s3_bucket, Key="baseline/constraints.json")["ContentLength"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "/nonexistent/train.csv", "--output", "/tmp/x"], "does not exist"),
        (["--output", "/tmp/x"], "--dataset is required"),
        (["--dataset", "/tmp/x.csv"], "--output is required"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], message: str) -> None:
    result = run_cli("baseline", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert lines[0].startswith("infertap-analyzer baseline: error:")


def test_cli_ragged_and_empty_csv(tmp_path: Path) -> None:
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (tmp_path / "empty.csv").write_text("a,b\n")
    ragged = run_cli(
        "baseline", "--dataset", str(tmp_path / "ragged.csv"), "--output", str(tmp_path)
    )
    empty = run_cli("baseline", "--dataset", str(tmp_path / "empty.csv"), "--output", str(tmp_path))
    assert ragged.returncode == empty.returncode == 2
    assert "line 3 has 3 fields, expected 2" in ragged.stderr
    assert "no data rows" in empty.stderr
    assert not (tmp_path / "statistics.json").exists()


def test_cli_help() -> None:
    result = run_cli("baseline", "--help")
    assert result.returncode == 0
    for flag in ("--dataset", "--no-header", "--format", "--columns", "--output", "INFERTAP_"):
        assert flag in result.stdout
    top = run_cli("--help")
    assert top.returncode == 0 and "baseline" in top.stdout
