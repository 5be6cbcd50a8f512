"""The two sinks: S3 (moto server over HTTP) and a local folder, with the same key layout."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from sidecar.common.layout import parse_destination
from sidecar.delivery.sinks import CONTENT_TYPE, LocalSink, S3Sink, SinkError, make_sink
from tests.sidecar.delivery_support import (
    PAST,
    folder_objects,
    line,
    make_delivery,
    make_settings,
    offer,
    stop,
)

KEY = "ep/AllTraffic/2026/01/01/05/07-03-123-6ece5c74-7497-43f1-a263-4833557ffd63.jsonl"


@pytest.fixture
def capture_file(tmp_path: Path) -> Path:
    path = tmp_path / "file.jsonl"
    path.write_bytes(line(PAST, "a") + line(PAST, "b"))
    return path


async def test_s3_sink_puts_under_prefix(
    s3_server: Any, s3_bucket: str, capture_file: Path
) -> None:
    sink = make_sink(parse_destination(f"s3://{s3_bucket}/data/capture"))
    assert isinstance(sink, S3Sink)
    await sink.open()
    try:
        await sink.put(KEY, capture_file)
        await sink.put(KEY, capture_file)  # a retry overwrites: still one object
    finally:
        await sink.close()
    client = s3_server.client()
    listed = client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [item["Key"] for item in listed] == [f"data/capture/{KEY}"]
    got = client.get_object(Bucket=s3_bucket, Key=f"data/capture/{KEY}")
    assert got["Body"].read() == await asyncio.to_thread(capture_file.read_bytes)
    assert got["ContentType"] == CONTENT_TYPE
    assert "ServerSideEncryption" not in got or got["ServerSideEncryption"] == "AES256"
    assert sink.describe(KEY) == f"s3://{s3_bucket}/data/capture/{KEY}"


async def test_s3_sink_sends_sse_kms_headers(
    s3_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    settings = make_settings(f"s3://{s3_bucket}/p", tmp_path / "spool", "--kms-key-id", key_id)
    delivery, queue, _ = make_delivery(settings)
    await delivery.start()
    offer(queue, PAST, "secret")
    await stop(delivery)
    client = s3_server.client()
    (item,) = client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    head = client.head_object(Bucket=s3_bucket, Key=item["Key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_id


async def test_s3_sink_error_names_the_failure(s3_server: Any, capture_file: Path) -> None:
    sink = S3Sink(parse_destination("s3://bucket-that-does-not-exist/p"))
    await sink.open()
    try:
        with pytest.raises(SinkError, match="NoSuchBucket"):
            await sink.put(KEY, capture_file)
    finally:
        await sink.close()


async def test_local_sink_writes_whole_files_with_the_s3_layout(
    tmp_path: Path, capture_file: Path
) -> None:
    root = tmp_path / "out"
    sink = make_sink(parse_destination(f"file://{root}"))
    assert isinstance(sink, LocalSink)
    await sink.open()
    await sink.put(KEY, capture_file)
    await sink.put(KEY, capture_file)
    await sink.close()
    # Same relative key as S3 below its prefix; no temporary file left next to it.
    assert folder_objects(root) == {KEY: await asyncio.to_thread(capture_file.read_bytes)}
    assert sink.describe(KEY) == str(root / KEY)


def deliver(root: Path, source: Path, times: int = 1) -> None:
    """Put `source` as KEY into a LocalSink at `root`, `times` times."""

    async def run() -> None:
        sink = LocalSink(parse_destination(str(root)))
        await sink.open()
        for _ in range(times):
            await sink.put(KEY, source)
        await sink.close()

    asyncio.run(run())


def test_local_sink_links_on_the_same_file_system_and_copies_across(
    tmp_path: Path, capture_file: Path
) -> None:
    deliver(tmp_path / "out", capture_file)
    delivered = tmp_path / "out" / KEY
    # The spool's file itself under a second name: nothing copied, and the same bytes.
    assert delivered.stat().st_ino == capture_file.stat().st_ino
    capture_file.unlink()  # what the spool does once the put succeeded
    assert delivered.read_bytes() == line(PAST, "a") + line(PAST, "b")

    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        return  # no second file system to copy across to here
    source = tmp_path / "again.jsonl"
    source.write_bytes(line(PAST, "c"))
    root = shm / f"infertap-test-{os.getpid()}-{tmp_path.name}"
    try:
        deliver(root, source, times=2)  # a retry still leaves one whole file
        assert folder_objects(root) == {KEY: line(PAST, "c")}
        assert source.exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_local_sink_failure_is_a_sink_error(tmp_path: Path, capture_file: Path) -> None:
    blocker = tmp_path / "file-in-the-way"
    blocker.write_text("x")
    sink = LocalSink(parse_destination(str(blocker)))
    with pytest.raises(SinkError, match="writable --destination"):
        await sink.open()
    ok = LocalSink(parse_destination(str(tmp_path / "out")))
    await ok.open()
    with pytest.raises(SinkError, match="FileNotFoundError"):
        await ok.put(KEY, tmp_path / "missing.jsonl")
    assert not any(name.endswith(".tmp") for _, _, names in os.walk(tmp_path) for name in names)
