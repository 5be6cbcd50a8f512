"""Reading and writing by URL: local paths, file:// URLs and S3 (a real moto server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.errors import StorageError
from analyzer.reading import storage
from tests.conftest import S3Server


def test_local_write_read_and_join(tmp_path: Path) -> None:
    url = storage.join(str(tmp_path), "a", "b.json")
    storage.write_bytes(url, b"hello")
    assert Path(url).read_bytes() == b"hello"
    assert storage.read_bytes(f"file://{url}") == b"hello"
    storage.write_bytes(url, b"again")  # replaced whole
    assert storage.read_bytes(url) == b"again"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.json"]  # no temporary left


def test_join_on_urls() -> None:
    assert storage.join("s3://bucket/prefix/", "x", "/y.json") == "s3://bucket/prefix/x/y.json"
    assert storage.join("file:///data", "x") == "file:///data/x"


def test_local_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        storage.read_bytes(str(tmp_path / "missing"))
    with pytest.raises(StorageError, match="is a folder"):
        storage.read_bytes(str(tmp_path))
    with pytest.raises(StorageError, match="s3://bucket/key"):
        storage.read_bytes("http://example.invalid/x")


async def test_local_listing_and_concurrent_reads(tmp_path: Path) -> None:
    for name in ("2026/01/a.jsonl", "2026/02/b.jsonl", "c.txt"):
        storage.write_bytes(str(tmp_path / name), name.encode())
    listed = await storage.list_objects(str(tmp_path / "2026"))
    assert [Path(o.url).name for o in listed] == ["a.jsonl", "b.jsonl"]
    assert listed[0].size == len("2026/01/a.jsonl")
    got = {url: data async for url, data in storage.read_many([o.url for o in listed], 2)}
    assert got == {o.url: storage.read_local(o.url) for o in listed}
    assert await storage.list_objects(str(tmp_path / "nothing-here")) == []


def test_s3_round_trip_and_listing(s3_server: S3Server, s3_bucket: str) -> None:
    base = f"s3://{s3_bucket}/out"
    storage.write_bytes(storage.join(base, "x", "one.json"), b"1")
    storage.write_bytes(storage.join(base, "x", "two.json"), b"22")
    body = s3_server.client().get_object(Bucket=s3_bucket, Key="out/x/two.json")["Body"].read()
    assert body == b"22"
    assert storage.read_bytes(f"{base}/x/one.json") == b"1"
    listed = storage.list_objects_sync(f"{base}/x/")
    assert [(o.url, o.size) for o in listed] == [
        (f"{base}/x/one.json", 1),
        (f"{base}/x/two.json", 2),
    ]


async def test_s3_listing_follows_every_page(s3_server: S3Server, s3_bucket: str) -> None:
    # S3 returns at most 1,000 keys a request; small pages exercise the same continuation.
    client = s3_server.client()
    keys = [f"hour/{i:02d}.jsonl" for i in range(7)]
    for key in keys:
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    first = client.list_objects_v2(Bucket=s3_bucket, Prefix="hour/", MaxKeys=3)
    assert first["IsTruncated"] and first["KeyCount"] == 3  # the server really pages
    listed = await storage.list_objects(f"s3://{s3_bucket}/hour/", page_size=3)
    assert [o.url for o in listed] == [f"s3://{s3_bucket}/{key}" for key in keys]


async def test_s3_from_inside_an_event_loop(s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/k.bin"
    storage.write_bytes(url, b"sync call inside a running loop")
    assert storage.read_bytes(url) == b"sync call inside a running loop"
    urls = []
    for i in range(5):
        urls.append(f"s3://{s3_bucket}/many/{i}")
        await storage.awrite_bytes(urls[-1], str(i).encode())
    got = {url: data async for url, data in storage.read_many(urls, concurrency=3)}
    assert got == {u: u.rsplit("/", 1)[1].encode() for u in urls}


def test_s3_errors(s3_bucket: str) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        storage.read_bytes(f"s3://{s3_bucket}/missing.json")
    with pytest.raises(StorageError, match="bucket does not exist"):
        storage.read_bytes("s3://no-such-bucket-here/x")


def test_local_copy_downloads_s3_objects(s3_bucket: str, tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/data/train.csv"
    storage.write_bytes(url, b"a,b\n1,2\n")
    with storage.local_copy(url) as path:
        assert path.read_bytes() == b"a,b\n1,2\n"
        assert path.name == "train.csv"
    assert not path.exists()
    with pytest.raises(StorageError, match="is a folder"), storage.local_copy(str(tmp_path)):
        pass


def test_unreachable_endpoint_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StorageError, match="S3 endpoint unreachable"):
        storage.read_bytes("s3://bucket/key")
