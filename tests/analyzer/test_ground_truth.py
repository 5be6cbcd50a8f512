"""Ground-truth records: SageMaker's reference file, the three encodings, the writer and its CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyzer.__main__ import main
from analyzer.errors import DatasetError
from analyzer.reading.ground_truth import LabelError, label_record, parse_label, write_labels
from analyzer.reading.label_input import label_pairs
from analyzer.reading.storage import list_objects_sync, read_bytes
from analyzer.reading.streamed_write import write_stream
from tests.conftest import REPO_ROOT, S3Server


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


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'id1,1\nid2,"0\nid3,1\nid4,0\n', "line 2 is not one CSV row"),
        (b'id1,1\nid2,"0"x\n', "line 2 is not one CSV row"),
        (b"id1,1\nid2\n", "line 2 has 1 column"),
        (b"id1,1\n,0\n", "line 2 has an empty inference_id"),
        (b"id1,1\nid2,\xff\n", "line 2 is not UTF-8 text (byte 0xff at column 5)"),
    ],
)
def test_cli_rejects_a_malformed_csv_row_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    (tmp_path / "labels.csv").write_bytes(content)
    destination = tmp_path / "gt"
    code = main(
        ["ground-truth", "--destination", str(destination), "--input", str(tmp_path / "labels.csv")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert expected in err and "labels.csv" in err
    assert len(err.splitlines()) == 1
    assert list_objects_sync(str(destination)) == []  # nothing written, not the rows before


def test_cli_rejects_non_utf8_json_lines_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "labels.jsonl").write_bytes(
        b'{"inference_id": "a", "label": 1}\n{"inference_id": "b", "label": "\xe9"}\n'
    )
    code = main(
        ["ground-truth", "--destination", str(tmp_path), "--input", str(tmp_path / "labels.jsonl")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "labels.jsonl line 2 is not UTF-8 text" in err[0]


def test_cli_reads_quoted_fields_and_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_bytes(b'\xef\xbb\xbfinference_id,label\n"r,1",cat\nr2,"x y"\n')
    url, count = write_labels(str(tmp_path / "gt"), label_pairs(str(tmp_path / "labels.csv")))
    assert count == 2
    assert [parse_label(x) for x in read_bytes(url).splitlines()] == [("r,1", "cat"), ("r2", "x y")]


def _peak_rss_mib(*args: str) -> float:
    """Peak RSS of `python -m analyzer ARGS` in a fresh child process."""
    process = subprocess.Popen([sys.executable, "-m", "analyzer", *args], cwd=REPO_ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss / 1024


def test_ground_truth_streams_labels_in_bounded_memory(tmp_path: Path) -> None:
    rows = 300_000
    with (tmp_path / "labels.csv").open("w") as out:
        out.writelines(f"{uuid.UUID(int=i)},{i % 2}\n" for i in range(rows))
    (tmp_path / "small.csv").write_text("a,1\n")
    write = ("ground-truth", "--destination")
    idle = _peak_rss_mib(*write, str(tmp_path / "gt0"), "--input", str(tmp_path / "small.csv"))
    peak = _peak_rss_mib(*write, str(tmp_path / "gt"), "--input", str(tmp_path / "labels.csv"))
    # Holding them all took ~4 KB a label (1.2 GiB here); streamed, a few MiB of buffers.
    assert peak - idle < 40, (idle, peak)
    (written,) = list_objects_sync(str(tmp_path / "gt"))
    assert written.size == rows * len(label_record(str(uuid.UUID(int=0)), 0))


def test_stream_to_s3_goes_in_parts_and_a_failure_leaves_nothing(
    s3_server: S3Server, s3_bucket: str
) -> None:
    part = 5 * 1024 * 1024
    chunks = [bytes([65 + i]) * (1024 * 1024) for i in range(12)]
    url = f"s3://{s3_bucket}/gt/labels.jsonl"
    assert write_stream(url, iter(chunks), part_bytes=part) == 12 * 1024 * 1024
    assert read_bytes(url) == b"".join(chunks)

    def failing() -> Iterator[bytes]:
        yield from chunks
        raise DatasetError("labels.csv line 9 is not one CSV row")

    with pytest.raises(DatasetError, match="line 9"):
        write_stream(f"s3://{s3_bucket}/gt/broken.jsonl", failing(), part_bytes=part)
    client = s3_server.client()
    assert [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]] == [
        "gt/labels.jsonl"
    ]
    assert not client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_stream_to_a_folder_leaves_nothing_on_failure(tmp_path: Path) -> None:
    def failing() -> Iterator[bytes]:
        yield b"x" * 100
        raise DatasetError("bad row")

    with pytest.raises(DatasetError):
        write_stream(str(tmp_path / "out" / "labels.jsonl"), failing())
    assert list(tmp_path.rglob("*")) == [tmp_path / "out"]
