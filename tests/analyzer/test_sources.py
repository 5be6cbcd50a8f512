"""Listing the hour folders of a window and reading files, locally and from a real S3 server."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from analyzer.reading.captures import iter_files, list_window, window_prefixes
from tests.analyzer.captures import (
    ENDPOINT,
    HOUR,
    VARIANT,
    capture_key,
    csv_record,
    write_local,
    write_s3,
)
from tests.conftest import S3Server

H = timedelta(hours=1)


def hour_files(root: Path) -> dict[str, Path]:
    """Two replicas' files in 07:00, 08:00 and 09:00, one in 10:00."""
    files = {}
    for offset, count in ((-1, 2), (0, 2), (1, 2), (2, 1)):
        for replica in range(count):
            path = write_local(root, HOUR + offset * H, [csv_record(f"{offset},{replica}", "0")])
            files[f"{offset}/{replica}"] = path
    return files


def test_window_selects_hours_in_start_to_end(tmp_path: Path) -> None:
    files = hour_files(tmp_path)
    listed = list_window(str(tmp_path), ENDPOINT, VARIANT, HOUR, HOUR + 2 * H).files
    assert sorted(f.url for f in listed) == sorted(
        str(files[k]) for k in ("0/0", "0/1", "1/0", "1/1")
    )
    assert all(f.size > 0 for f in listed)
    # An hour that starts inside the window counts; one that started before it does not.
    later = list_window(
        str(tmp_path), ENDPOINT, VARIANT, HOUR + 30 * timedelta(minutes=1), HOUR + 3 * H
    ).files
    assert sorted(f.url for f in later) == sorted(str(files[k]) for k in ("1/0", "1/1", "2/0"))
    assert list_window(str(tmp_path), ENDPOINT, "Other", HOUR, HOUR + H).files == []
    assert list_window(str(tmp_path / "nowhere"), ENDPOINT, VARIANT, HOUR, HOUR + H).files == []


def test_other_files_in_hour_folders_are_ignored(tmp_path: Path) -> None:
    kept = write_local(tmp_path, HOUR, [csv_record("1", "0")])
    (kept.parent / "notes.txt").write_text("x")
    (kept.parent / f".{kept.name}.part").write_text("x")
    listing = list_window(str(tmp_path), ENDPOINT, VARIANT, HOUR, HOUR + H)
    assert [f.url for f in listing.files] == [str(kept)]
    assert len(listing.ignored) == 2
    assert listing.prefixes == [str(tmp_path / ENDPOINT / VARIANT / "2026/11/25/08")]


def test_file_urls_keep_their_scheme(tmp_path: Path) -> None:
    path = write_local(tmp_path, HOUR, [csv_record("1", "0")])
    listed = list_window(f"file://{tmp_path}", ENDPOINT, VARIANT, HOUR, HOUR + H).files
    assert [f.url for f in listed] == [f"file://{path}"]
    assert [item.data for item in iter_files([listed[0].url])] == [path.read_bytes()]


def test_s3_window_and_concurrent_reads(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    inside = {
        write_s3(client, s3_bucket, "datacapture", HOUR + o * H, [csv_record(f"{o},{r}", "0")])
        for o in (0, 1)
        for r in range(3)
    }
    write_s3(client, s3_bucket, "datacapture", HOUR - H, [csv_record("x", "0")])
    write_s3(client, s3_bucket, "datacapture", HOUR + 2 * H, [csv_record("x", "0")])
    # A sibling prefix that merely starts like the hour folder must not be listed.
    client.put_object(
        Bucket=s3_bucket, Key=f"datacapture/{ENDPOINT}/{VARIANT}/2026/11/25/080/x.jsonl", Body=b""
    )
    captures = f"s3://{s3_bucket}/datacapture"
    assert window_prefixes(captures, ENDPOINT, VARIANT, HOUR, HOUR + H) == [
        f"{captures}/{ENDPOINT}/{VARIANT}/2026/11/25/08/"
    ]
    listed = list_window(captures, ENDPOINT, VARIANT, HOUR, HOUR + 2 * H, concurrency=2).files
    assert {f.url for f in listed} == {f"s3://{s3_bucket}/{k}" for k in inside}

    urls = [f.url for f in listed] + [f"s3://{s3_bucket}/datacapture/{capture_key(HOUR)}"]
    results = {item.url: item for item in iter_files(urls, concurrency=3)}
    assert set(results) == set(urls)
    missing = results[urls[-1]]
    assert missing.data is None and missing.error is not None and "does not exist" in missing.error
    for info in listed:
        body = client.get_object(Bucket=s3_bucket, Key=info.url.split("/", 3)[3])["Body"].read()
        assert results[info.url].data == body


def test_closing_the_reader_early_stops_it(tmp_path: Path, reads: Counter[str]) -> None:
    paths = [str(write_local(tmp_path, HOUR, [csv_record(str(i), "0")])) for i in range(40)]
    reader = iter_files(paths, concurrency=2)
    first = next(reader)
    assert first.data is not None
    reader.close()
    # The reader thread has ended, having read only the file taken and those in flight or
    # queued (at most `concurrency` of each).
    assert not [t for t in threading.enumerate() if t.name == "capture-reader" and t.is_alive()]
    assert 1 <= sum(reads[path] for path in paths) <= 1 + 2 * 2
