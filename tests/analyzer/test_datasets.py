"""Baseline datasets in every format, local and on S3, with the errors a user can run into."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analyzer.engines.local import ProgressReporter, profile_dataset
from analyzer.errors import DatasetError
from analyzer.profiling import kll
from analyzer.reading import storage
from analyzer.reading.datasets import detect_format
from analyzer.reporting.baseline_files import FeatureStatistics, Statistics


def feature(stats: Statistics, name: str) -> FeatureStatistics:
    found = stats.feature(name)
    assert found is not None, name
    return found


def test_csv_with_header_label_first(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('label,size,colour,note\n1,2.5,red,"a, quoted"\n0,3,blue,\n\n1,4.25,red,x\n')
    stats = profile_dataset(str(path)).to_statistics()
    assert stats.item_count == 3
    assert stats.feature_names == ["label", "size", "colour", "note"]
    assert feature(stats, "label").inferred_type == "Integral"
    assert feature(stats, "size").inferred_type == "Fractional"
    assert feature(stats, "size").sum == 9.75
    colour = feature(stats, "colour")
    assert colour.inferred_type == "String"
    assert [(b.value, b.count) for b in colour.categorical_buckets] == [("red", 2), ("blue", 1)]
    note = feature(stats, "note")
    assert (note.num_present, note.num_missing) == (2, 1)


def test_headerless_csv_uses_sagemakers_column_names(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("1,2\n3,4\n")
    stats = profile_dataset(str(path), header=False).to_statistics()
    assert stats.feature_names == ["_c0", "_c1"]
    assert stats.item_count == 2
    named = profile_dataset(str(path), header=False, columns=["a", "b"]).to_statistics()
    assert named.feature_names == ["a", "b"]


def test_byte_order_mark_gzip_and_small_chunks(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i * 0.5}\n" for i in range(1000))
    path = tmp_path / "data.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\ufeffn,half\n" + rows)
    stats = profile_dataset(str(path), chunk_rows=64, engine="python").to_statistics()
    assert stats.feature_names == ["n", "half"]
    assert feature(stats, "n").sum == sum(range(1000))
    assert feature(stats, "half").max == 499.5
    assert stats == profile_dataset(str(path), engine="arrow").to_statistics()


@pytest.mark.parametrize("header", [True, False])
def test_arrow_and_python_readers_agree(tmp_path: Path, header: bool) -> None:
    rng = np.random.default_rng(4)
    lines = ["id,score,code,text\n"] if header else []
    specials = ["- 5", "+7", "1e3", "2.5E-2", ".5", "1.", "nan", "", "-0"]
    texts = ["a, b", "line\nbreak", "ü", ""]
    for i in range(3000):
        special, text = specials[i % len(specials)], texts[i % len(texts)]
        lines.append(f'{i},{rng.normal():.6f},{special},"{text}"\n')
    path = tmp_path / "mixed.csv"
    path.write_text("".join(lines), encoding="utf-8")
    arrow = profile_dataset(str(path), header=header, engine="arrow").to_statistics()
    python = profile_dataset(str(path), header=header, engine="python").to_statistics()
    # KLL compaction flips coins, so past k values two sketches agree only within their error.
    bound = 2 * kll.rank_error() * 3000
    for ours, theirs in zip(arrow.features, python.features, strict=True):
        for a, b in zip(ours.kll_buckets, theirs.kll_buckets, strict=True):
            assert abs(a.count - b.count) <= bound
        ours.kll_buckets = theirs.kll_buckets = []
        ours.kll_sketch = theirs.kll_sketch = []
    assert arrow == python
    code = feature(arrow, "code" if header else "_c2")
    assert code.inferred_type == "String" and code.num_missing == 333


def test_arrow_reader_falls_back_for_precise_errors(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n" + "1,2\n" * 100 + "1,2,3\n")
    with pytest.raises(DatasetError, match="line 102 has 3 fields"):
        profile_dataset(str(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,2\n3\n", "line 3 has 1 fields, expected 2"),
        ("a,b\n", "has no data rows"),
        ("", "has no data rows"),
        ("a,a\n1,2\n", "appears twice"),
    ],
)
def test_csv_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        profile_dataset(str(path))


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        profile_dataset(str(tmp_path / "none.csv"))
    with pytest.raises(DatasetError, match="pass --format"):
        detect_format("s3://bucket/data.bin")
    assert detect_format("s3://b/x.JSONL") == "jsonl"
    assert detect_format("/d/x.parquet") == "parquet"


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    lines = [
        {"age": 31, "score": 0.5, "city": "Oslo"},
        {"age": 40, "city": "Rome", "extra": True, "geo": {"lat": 41.9, "tags": ["x", "y"]}},
        {"age": None, "score": 2, "city": "Oslo"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    stats = profile_dataset(str(path)).to_statistics()
    assert stats.feature_names == [
        "age",
        "score",
        "city",
        "extra",
        "geo.lat",
        "geo.tags.0",
        "geo.tags.1",
    ]
    age = feature(stats, "age")
    assert (age.inferred_type, age.num_present, age.num_missing, age.sum) == (
        "Integral",
        2,
        1,
        71.0,
    )
    score = feature(stats, "score")
    assert (score.inferred_type, score.num_missing) == ("Fractional", 1)
    assert feature(stats, "extra").num_missing == 2


def test_json_lines_errors(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DatasetError, match="line 2 is a JSON list"):
        profile_dataset(str(path))
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DatasetError, match="line 2 is not JSON"):
        profile_dataset(str(path))


def test_parquet_keeps_arrow_types(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    table = pa.table(
        {
            "count": pa.array([1, None, 3, 4], type=pa.int32()),
            "ratio": pa.array([0.5, 1.0, None, 2.0]),
            "kind": pa.array(["a", "b", None, "a"]),
            "flag": pa.array([True, False, True, None]),
        }
    )
    pq.write_table(table, path, row_group_size=2)
    stats = profile_dataset(str(path), chunk_rows=3).to_statistics()
    assert stats.item_count == 4
    count = feature(stats, "count")
    assert (count.inferred_type, count.num_missing, count.sum) == ("Integral", 1, 8.0)
    ratio = feature(stats, "ratio")
    assert (ratio.inferred_type, ratio.num_missing, ratio.mean) == ("Fractional", 1, 3.5 / 3)
    assert feature(stats, "kind").inferred_type == "String"
    assert feature(stats, "flag").num_missing == 1


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        profile_dataset(str(path))


def test_dataset_on_s3(s3_bucket: str) -> None:
    values = np.arange(5000) % 7
    body = "v\n" + "".join(f"{v}\n" for v in values)
    url = f"s3://{s3_bucket}/datasets/train.csv"
    storage.write_bytes(url, body.encode())
    v = feature(profile_dataset(url).to_statistics(), "v")
    assert (v.num_present, v.sum, v.max) == (5000, float(values.sum()), 6.0)
    with pytest.raises(DatasetError, match="does not exist"):
        profile_dataset(f"s3://{s3_bucket}/datasets/missing.csv")


def test_progress_is_reported_per_chunk(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("v\n" + "1\n" * 250)
    seen: list[int] = []
    profile_dataset(str(path), chunk_rows=100, engine="python", progress=seen.append)
    assert seen == [100, 200, 250]
    reported: list[tuple[int, float]] = []
    reporter = ProgressReporter(lambda rows, elapsed: reported.append((rows, elapsed)), 0.0)
    reporter(10)
    assert reported[0][0] == 10 and reported[0][1] >= 0.0
