"""Ground-truth records: SageMaker's reference file, the three encodings, the writer and its CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyzer.__main__ import main
from analyzer.reading.ground_truth import LabelError, label_record, parse_label, write_labels
from analyzer.reading.storage import list_objects_sync, read_bytes


def test_reads_sagemaker_reference_records(shared_data: Path) -> None:
    lines = (shared_data / "sagemaker-ground-truth-sample.jsonl").read_bytes().splitlines()
    parsed = [parse_label(line) for line in lines]
    assert parsed[0] == ("74b0dd56-e7c8-368e-94b1-14a138a96000", "1")
    assert len(parsed) == 5


@pytest.mark.parametrize(
    ("encoding", "label", "expected"),
    [("CSV", 1, "1"), ("CSV", "cat", "cat"), ("JSON", 0.25, 0.25), ("BASE64", "dog", "dog")],
)
def test_label_encodings_round_trip(encoding: str, label: object, expected: object) -> None:
    assert parse_label(label_record("id-1", label, encoding)) == ("id-1", expected)


def test_record_is_byte_compatible_with_sagemaker() -> None:
    assert label_record("abc", 1) == (
        b'{"groundTruthData":{"data":"1","encoding":"CSV"},'
        b'"eventMetadata":{"eventId":"abc"},"eventVersion":"0"}\n'
    )


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b'{"groundTruthData":{"data":"1"}}',
        b'{"groundTruthData":{"data":"","encoding":"CSV"},"eventMetadata":{"eventId":"a"}}',
        b'{"groundTruthData":{"data":"%%%","encoding":"BASE64"},"eventMetadata":{"eventId":"a"}}',
        b'{"groundTruthData":{"data":"{","encoding":"JSON"},"eventMetadata":{"eventId":"a"}}',
    ],
)
def test_unreadable_labels_raise_label_error(line: bytes) -> None:
    with pytest.raises(LabelError):
        parse_label(line)


def test_write_labels_puts_one_file_in_the_hour_of_writing(tmp_path: Path) -> None:
    when = datetime(2026, 11, 25, 11, 30, tzinfo=UTC)
    url, count = write_labels(str(tmp_path), [("a", 1), ("b", 0)], when)
    assert count == 2
    assert url.startswith(str(tmp_path / "2026" / "11" / "25" / "11") + "/30-00-000-")
    assert [parse_label(x) for x in read_bytes(url).splitlines()] == [("a", "1"), ("b", "0")]


def test_cli_posts_csv_and_jsonl_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "labels.csv").write_text("inference_id,label\nr1,1\nr2,0\n")
    (tmp_path / "labels.jsonl").write_text(json.dumps({"inference_id": "r3", "label": 1}) + "\n")
    destination = str(tmp_path / "gt")
    for name in ("labels.csv", "labels.jsonl"):
        code = main(
            [
                *("ground-truth", "--destination", destination, "--input", str(tmp_path / name)),
                *("--written-at", "2026-11-25T10:00:00Z"),
            ]
        )
        assert code == 0
    assert "2 labels written" in capsys.readouterr().out
    files = list_objects_sync(destination)
    records = [parse_label(line) for f in files for line in read_bytes(f.url).splitlines()]
    assert sorted(records) == [("r1", "1"), ("r2", "0"), ("r3", "1")]
    assert all("/2026/11/25/10/" in f.url for f in files)


def test_cli_writes_to_s3(tmp_path: Path, s3_bucket: str) -> None:
    (tmp_path / "labels.csv").write_text("r1,1\n")
    code = main(
        [
            *("ground-truth", "--destination", f"s3://{s3_bucket}/gt"),
            *("--input", str(tmp_path / "labels.csv")),
        ]
    )
    assert code == 0
    (only,) = list_objects_sync(f"s3://{s3_bucket}/gt/")
    assert parse_label(read_bytes(only.url).strip()) == ("r1", "1")
