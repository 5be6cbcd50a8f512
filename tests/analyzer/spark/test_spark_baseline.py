"""Baselines on Spark give the local engine's profiles: CSV, JSON Lines, Parquet; same errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.commands.baseline import create_baseline
from analyzer.engines.local import profile_dataset as locally
from analyzer.engines.spark import native
from analyzer.engines.spark.datasets import profile_dataset as on_spark
from analyzer.errors import DatasetError
from tests.analyzer.spark.compare import assert_same_profile
from tests.analyzer.test_baseline import write_breast_cancer_csv

ROWS = 6000


def mixed_rows(count: int) -> list[dict[str, Any]]:
    """Rows with missing values, strings among numbers, a huge number and a categorical."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(count):
        rows.append(
            {
                "label": int(rng.integers(0, 2)),
                "age": None if i % 13 == 0 else int(rng.integers(18, 90)),
                "score": float(np.round(rng.normal(0.5, 2.0), 6)),
                "mixed": "n/a" if i % 101 == 0 else (None if i % 7 == 0 else int(i % 50)),
                "city": ["Lyon", "Oslo", "Porto", "Quito"][i % 4],
                "big": "1e999" if i == 17 else f"{rng.uniform(0, 1e6):.3f}",
            }
        )
    return rows


def csv_text(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value)

    lines = [",".join(rows[0])]
    lines += [",".join(cell(v) for v in row.values()) for row in rows]
    return "\n".join(lines) + "\n"


def test_csv_with_missing_values_strings_and_huge_numbers(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(csv_text(mixed_rows(ROWS)))
    spread = on_spark(spark, str(path))
    assert_same_profile(spread, locally(str(path)))
    assert spread.feature("big").non_finite == 1
    assert spread.feature("mixed").string == len(range(0, ROWS, 101))


def test_headerless_csv_with_given_names(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(csv_text(mixed_rows(500)).split("\n", 1)[1])
    names = ["y", "a", "b", "c", "d", "e"]
    spread = on_spark(spark, str(path), header=False, columns=names)
    assert spread.columns == names
    assert_same_profile(spread, locally(str(path), header=False, columns=names))


def test_json_lines_keep_their_json_types(spark: Any, tmp_path: Path) -> None:
    rows = mixed_rows(ROWS)
    for i, row in enumerate(rows):
        row["nested"] = {"depth": i % 3, "tags": ["a", "b"][: i % 3]}
        if i % 11 == 0:
            del row["city"]  # absent keys are missing
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    assert_same_profile(on_spark(spark, str(path)), locally(str(path)))


def ratio(i: int) -> float | None:
    """Every 50th value is null, NaN, +inf or -inf in turn."""
    return [None, math.nan, math.inf, -math.inf][i // 50 % 4] if i % 50 == 0 else i / 7


@pytest.mark.parametrize("sketches", ["python", "spark"])
def test_parquet_keeps_its_arrow_types(spark: Any, tmp_path: Path, sketches: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = mixed_rows(ROWS)
    table = pa.table(
        {
            "label": pa.array([r["label"] for r in rows], pa.int32()),
            "age": pa.array([r["age"] for r in rows], pa.int64()),
            "score": pa.array([r["score"] for r in rows], pa.float64()),
            "city": pa.array([None if i % 9 == 0 else r["city"] for i, r in enumerate(rows)]),
            "flag": pa.array([i % 3 == 0 for i in range(ROWS)]),
            # NaN and null missing, infinities non-finite: as locally, on Spark's own sketches too.
            "ratio": pa.array([ratio(i) for i in range(ROWS)], pa.float32()),
            "empty": pa.array([None] * ROWS, pa.float64()),
        }
    )
    path = tmp_path / "train.parquet"
    pq.write_table(table, path, row_group_size=1000)
    spark.conf.set(native.ENABLE_KEY, str(sketches == "spark").lower())
    try:
        spread = on_spark(spark, str(path))
    finally:
        spark.conf.unset(native.ENABLE_KEY)
    assert_same_profile(spread, locally(str(path)))
    assert spread.feature("ratio").non_finite == 2 * len(range(0, ROWS, 200))


def test_the_breast_cancer_baseline_files_match(spark: Any, tmp_path: Path) -> None:
    dataset = tmp_path / "train.csv"
    write_breast_cancer_csv(dataset)
    local = create_baseline(str(dataset), str(tmp_path / "local"))
    spread = create_baseline(str(dataset), str(tmp_path / "spark"), engine="spark")
    assert spread.constraints == local.constraints
    for ours, theirs in zip(spread.statistics.features, local.statistics.features, strict=True):
        assert (ours.name, ours.inferred_type) == (theirs.name, theirs.inferred_type)
        assert (ours.num_present, ours.num_missing) == (theirs.num_present, theirs.num_missing)
        assert (ours.min, ours.max) == (theirs.min, theirs.max)
        assert ours.mean == pytest.approx(theirs.mean, rel=1e-9)
        assert ours.std_dev == pytest.approx(theirs.std_dev, rel=1e-9)
    written = json.loads((tmp_path / "spark" / "statistics.json").read_text())
    assert written["dataset"]["item_count"] == 569


@pytest.mark.parametrize(("row", "fields"), [("3,4,5", 3), ("3", 1)])
def test_a_ragged_csv_fails_as_it_does_locally(
    spark: Any, tmp_path: Path, row: str, fields: int
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(f"a,b\n1,2\n{row}\n6,7\n")
    with pytest.raises(DatasetError) as local:
        locally(str(path))
    assert str(local.value) == (
        f"{path} line 3 has {fields} fields, expected 2; every row needs the same number of columns"
    )
    with pytest.raises(DatasetError) as spark_error:
        on_spark(spark, str(path))
    # One line naming the file and the row, as locally; not Spark's stack.
    assert str(spark_error.value) == (
        f"file://{path} row {row!r} has {fields} fields, expected 2; every row needs the same "
        "number of columns"
    )
    # Nor is the stack logged on the console (with a local master, the executor's log is it).
    executor = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager.getLogger(
        "org.apache.spark.executor.Executor"
    )
    assert not executor.isErrorEnabled()


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.jsonl"])
def test_a_dataset_that_is_not_utf8_fails_as_it_does_locally(
    spark: Any, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    text = "city,n\nZürich,1\nOslo,2\n" if name.endswith(".csv") else '{"city": "Zürich"}\n'
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DatasetError, match="is not UTF-8 text"):
        locally(str(path))
    with pytest.raises(DatasetError) as caught:
        on_spark(spark, str(path))
    position = next(line for line in text.splitlines() if "ü" in line).index("ü")
    assert str(caught.value) == (
        f"file://{path} is not UTF-8 text: byte 0xfc at position {position} of a line "
        "is not UTF-8 (invalid start byte)"
    )


def test_a_csv_holding_the_replacement_character_itself_is_profiled(
    spark: Any, tmp_path: Path
) -> None:
    """U+FFFD written as UTF-8 is text like any other: both engines profile it."""
    path = tmp_path / "fffd.csv"
    path.write_text("city,n\n\ufffd,1\nOslo,2\n", encoding="utf-8")
    assert_same_profile(on_spark(spark, str(path)), locally(str(path)))


def test_a_missing_or_empty_dataset_is_named(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere\.csv"):
        on_spark(spark, str(tmp_path / "nowhere.csv"))
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="no data rows"):
        on_spark(spark, str(tmp_path / "empty.csv"))
