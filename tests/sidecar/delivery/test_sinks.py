"""The two sinks: S3 (moto server over HTTP) and a local folder, with the same key layout."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sidecar.common.layout import parse_destination
from sidecar.delivery.sinks import (
    CONTENT_TYPE,
    LocalSink,
    S3Sink,
    SinkError,
    make_sink,
)
from tests.conftest import free_port, port_open, wait_until
from tests.sidecar.delivery_support import (
    PAST,
    folder_objects,
    line,
    make_delivery,
    make_settings,
    offer,
    stop,
)

LOOPBACK = ip_address("127.0.0.1")
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
        with pytest.raises(SinkError, match=r"HTTP 404.*NoSuchBucket") as raised:
            await sink.put(KEY, capture_file)
    finally:
        await sink.close()
    assert raised.value.outcome == "http_error"
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto server over HTTPS with a self-signed certificate the S3 clients trust; a client."""
    cert, key = self_signed(tmp_path)
    tls = ["--ssl-cert", str(cert), "--ssl-key", str(key)]
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port), *tls],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), timeout=30, what="moto over TLS")
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"https://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        yield boto3.client("s3")
    finally:
        moto.terminate()
        moto.wait(timeout=10)


async def test_s3_sink_streams_a_file_over_https(
    s3_server: Any, tls_s3: Any, tmp_path: Path
) -> None:
    """Over TLS botocore sends the body aws-chunked with a checksum trailer: another code path."""
    tls_s3.create_bucket(Bucket="tls")
    big = tmp_path / "big.jsonl"
    big.write_bytes(line(PAST, "x", filler=3000) * 1000)  # several MiB: several chunks
    sink = S3Sink(parse_destination("s3://tls/p"))
    await sink.open()
    try:
        await sink.put(KEY, big)
    finally:
        await sink.close()
    assert tls_s3.get_object(Bucket="tls", Key=f"p/{KEY}")["Body"].read() == big.read_bytes()


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
