"""Write a file from a stream of byte chunks without holding it: local or S3, all or nothing.

A local file is written to a temporary name beside it and renamed at the end; an S3 object is
sent as a multipart upload of `PART_BYTES` parts (one PutObject when it fits in one part). If the
chunks raise (a malformed input line), nothing appears: the temporary file is removed, the upload
aborted. Memory: one part.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from analyzer.errors import StorageError
from analyzer.reading import storage

PART_BYTES = 8 * 1024 * 1024  # S3's minimum part is 5 MiB (all but the last)


def write_stream(url: str, chunks: Iterable[bytes], part_bytes: int = PART_BYTES) -> int:
    """Create or replace `url` with the concatenated chunks; returns the bytes written."""
    if storage.is_s3(url):
        return storage.run_sync(_s3_stream(url, chunks, part_bytes))
    return _local_stream(url, chunks)


def _local_stream(url: str, chunks: Iterable[bytes]) -> int:
    path = storage.local_path(url)
    size = 0
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as handle:
            temporary = handle.name
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
        os.replace(temporary, path)
    except OSError as exc:
        _remove(temporary)
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(temporary)
        raise
    return size


def _remove(temporary: str | None) -> None:
    if temporary is not None:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


async def _s3_stream(url: str, chunks: Iterable[bytes], part_bytes: int) -> int:
    bucket, key = storage.split_s3(url)
    buffer = bytearray()
    size = 0
    upload: _Multipart | None = None
    try:
        async with storage.s3_client() as client:
            try:
                for chunk in chunks:
                    buffer += chunk
                    size += len(chunk)
                    if len(buffer) >= part_bytes:
                        upload = upload or await _Multipart.start(client, bucket, key)
                        await upload.send(bytes(buffer))
                        buffer.clear()
                if upload is None:
                    await client.put_object(Bucket=bucket, Key=key, Body=bytes(buffer))
                else:
                    await upload.finish(bytes(buffer))
            except BaseException:
                if upload is not None:
                    await upload.abort()
                raise
    except (ClientError, BotoCoreError) as exc:
        raise storage._s3_error("write", url, exc) from exc
    return size


class _Multipart:
    """One S3 multipart upload: parts are sent in order, then completed (or aborted)."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self.client, self.bucket, self.key, self.upload_id = client, bucket, key, upload_id
        self.parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, client: Any, bucket: str, key: str) -> _Multipart:
        created = await client.create_multipart_upload(Bucket=bucket, Key=key)
        return cls(client, bucket, key, created["UploadId"])

    async def send(self, body: bytes) -> None:
        number = len(self.parts) + 1
        sent = await self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def finish(self, last: bytes) -> None:
        if last:
            await self.send(last)
        await self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        # Best effort: the error that brought us here is the one to report.
        with contextlib.suppress(ClientError, BotoCoreError):
            await self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
