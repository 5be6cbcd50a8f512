"""Where sealed capture files go: an S3 bucket (aiobotocore) or a local folder, one interface.

Both write a file under `destination.join(key)`; a put either completes whole or raises
`SinkError`, and putting the same key twice leaves one object, so a retried upload never
duplicates records.
"""

from __future__ import annotations

import asyncio
import errno
import os
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from sidecar.common.layout import Destination
from sidecar.delivery.upload_failure import describe_failure, upload_outcome
from sidecar.errors import SidecarError
from sidecar.metrics import UPLOAD_ERROR

CONTENT_TYPE = "application/jsonlines"
# os.link errors meaning "not here" (another file system, or none for links): copy instead.
_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP})


class SinkError(SidecarError, OSError):
    """The destination cannot be used, or a file could not be delivered (the uploader retries).

    `outcome` is the `infertap_uploads_total{outcome}` value of the failed attempt.
    """

    def __init__(self, message: str, outcome: str = UPLOAD_ERROR) -> None:
        super().__init__(message)
        self.outcome = outcome


class Sink(Protocol):
    """A place sealed files are delivered to."""

    async def open(self) -> None: ...

    async def put(self, key: str, path: Path) -> None:
        """Deliver the file at `path` as `key` (relative to the destination prefix)."""
        ...

    async def close(self) -> None: ...

    def describe(self, key: str) -> str:
        """Where `key` ends up, for logs (`s3://bucket/prefix/key` or a path)."""
        ...


class S3Sink:
    """S3 or any S3-compatible store (endpoint from `AWS_ENDPOINT_URL[_S3]`, the usual creds)."""

    def __init__(self, destination: Destination, kms_key_id: str | None = None) -> None:
        self.destination = destination
        self.kms_key_id = kms_key_id
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def open(self) -> None:
        # One attempt per put: the uploader owns retries, back-off and their metrics.
        config = AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=16,
        )
        # botocore reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and the credential chain itself.
        self._client = await self._stack.enter_async_context(
            get_session().create_client("s3", config=config)
        )

    async def put(self, key: str, path: Path) -> None:
        if self._client is None:
            raise SinkError("S3Sink.put called before open()")
        try:
            body = await asyncio.to_thread(path.open, "rb")
        except OSError as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}") from exc
        try:
            failure = await self._put_stream(key, body)
        finally:
            body.close()
        # Raised here, outside the `except` block, so it carries no reference to the failed
        # attempt's exception, its traceback, or the request that held the file's buffers.
        if failure is not None:
            raise failure

    async def _put_stream(self, key: str, body: BinaryIO) -> SinkError | None:
        """One PUT streaming `body` from disk: no copy of the file is held in memory."""
        extra: dict[str, str] = {}
        if self.kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        try:
            await self._client.put_object(
                Bucket=self.destination.bucket,
                Key=self.destination.join(key),
                Body=body,
                ContentLength=os.fstat(body.fileno()).st_size,
                ContentType=CONTENT_TYPE,
                **extra,
            )
        except (TimeoutError, BotoCoreError, ClientError, OSError) as exc:
            return SinkError(describe_failure(exc), upload_outcome(exc))
        return None

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    def describe(self, key: str) -> str:
        return f"s3://{self.destination.bucket}/{self.destination.join(key)}"


class LocalSink:
    """A local folder with the same key layout; each file appears whole (temp name + rename).

    On the spool's file system the temporary name is a hard link to the sealed spool file, so
    delivery copies no bytes; elsewhere the file is copied and fsynced.
    """

    def __init__(self, destination: Destination) -> None:
        self.root = destination.local_root

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(
                f"destination folder {self.root} cannot be created ({exc.strerror}); "
                "choose a writable --destination"
            ) from exc

    async def put(self, key: str, path: Path) -> None:
        try:
            await asyncio.to_thread(self._copy, path, self.root / key)
        except OSError as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A dot name is never a capture file name, so readers listing the folder skip it.
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            if not _link(source, temporary):
                _copy_data(source, temporary)
            os.replace(temporary, target)
        finally:
            # Also when `target` already was this very file: rename then leaves both names.
            temporary.unlink(missing_ok=True)
        fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def close(self) -> None:
        return None

    def describe(self, key: str) -> str:
        return str(self.root / key)


def _link(source: Path, target: Path) -> bool:
    """Hard-link `target` to the (sealed, fsynced, never modified) spool file: no bytes copied.
    False where the file systems differ or do not support links; the caller copies then."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno in _NO_LINK:
            return False
        raise
    return True


def _copy_data(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())


def make_sink(destination: Destination, kms_key_id: str | None = None) -> Sink:
    if destination.is_s3:
        return S3Sink(destination, kms_key_id)
    return LocalSink(destination)
