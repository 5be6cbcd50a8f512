"""Read and write files by URL: a local path, `file:///abs/path`, or `s3://bucket/key`.

S3 goes through aiobotocore with the usual credential chain; other S3-compatible servers (MinIO,
moto, Ceph) are reached through `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`. Every function has an
async form; the sync forms run it on a private event loop (in a worker thread when called from a
running loop), so they are safe anywhere.

Contract additions: `aread_bytes`/`awrite_bytes` (optionally sharing one `s3_client()`),
`list_objects_sync`, `local_copy(url)` (a local path for a file, downloading S3 objects).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from analyzer.errors import StorageError

T = TypeVar("T")
_READ_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A listed file: its full URL (same scheme as the listed prefix) and size in bytes."""

    url: str
    size: int


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def split_s3(url: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{url!r} is not an S3 URL; use s3://bucket/key")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(url: str) -> Path:
    """The filesystem path of a local URL (`file:///abs` or a plain path)."""
    if url.startswith("file://"):
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(f"{url!r}: file:// URLs must be absolute, as file:///path")
        return Path(parsed.path)
    if "://" in url:
        raise StorageError(f"{url!r}: use s3://bucket/key, file:///path or a plain path")
    return Path(url)


def join(url: str, *parts: str) -> str:
    """Append path parts to a URL with `/` (local paths keep their own form)."""
    clean = [p.strip("/") for p in parts if p.strip("/")]
    if not clean:
        return url
    if is_s3(url) or url.startswith("file://"):
        return "/".join([url.rstrip("/"), *clean])
    return str(Path(url).joinpath(*clean))


def _client_kwargs() -> dict[str, Any]:
    # botocore reads AWS_ENDPOINT_URL(_S3) itself; the region only needs a default for S3.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return {"region_name": region}


@contextlib.asynccontextmanager
async def s3_client() -> AsyncIterator[Any]:
    """One aiobotocore S3 client; reuse it for many calls."""
    session = get_session()
    async with session.create_client("s3", **_client_kwargs()) as client:
        yield client


def _s3_error(action: str, url: str, exc: Exception) -> StorageError:
    if isinstance(exc, NoCredentialsError):
        return StorageError(
            f"cannot {action} {url}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an IAM role"
        )
    if isinstance(exc, EndpointConnectionError):
        return StorageError(
            f"cannot {action} {url}: S3 endpoint unreachable ({exc}); check the network and "
            "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL"
        )
    code = ""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchKey", "404", "NotFound"):
        return StorageError(f"{url} does not exist")
    if code == "NoSuchBucket":
        return StorageError(f"{url}: the bucket does not exist")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return StorageError(f"cannot {action} {url}: access denied ({code}); check AWS credentials")
    return StorageError(f"cannot {action} {url}: {exc}")


async def aread_bytes(url: str, client: Any | None = None) -> bytes:
    if not is_s3(url):
        return read_local(url)
    bucket, key = split_s3(url)
    try:
        if client is None:
            async with s3_client() as own:
                return await _get_object(own, bucket, key)
        return await _get_object(client, bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error("read", url, exc) from exc


async def _get_object(client: Any, bucket: str, key: str) -> bytes:
    response = await client.get_object(Bucket=bucket, Key=key)
    async with response["Body"] as body:
        data: bytes = await body.read()
    return data


async def awrite_bytes(url: str, data: bytes, client: Any | None = None) -> None:
    if not is_s3(url):
        write_local(url, data)
        return
    bucket, key = split_s3(url)
    try:
        if client is None:
            async with s3_client() as own:
                await own.put_object(Bucket=bucket, Key=key, Body=data)
        else:
            await client.put_object(Bucket=bucket, Key=key, Body=data)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error("write", url, exc) from exc


async def list_objects(url_prefix: str, page_size: int | None = None) -> list[ObjectInfo]:
    """Every file under a prefix (recursively), sorted by URL.

    For S3 the prefix is a key prefix (`s3://b/data/2026/` lists keys starting with it); for a
    local folder, every file below it. A missing local folder lists as empty. S3 answers at
    most 1,000 keys a request; the pages are followed to the end (`page_size` asks for smaller
    ones).
    """
    if not is_s3(url_prefix):
        return _list_local(url_prefix)
    bucket, prefix = split_s3(url_prefix)
    found: list[ObjectInfo] = []
    try:
        async with s3_client() as client:
            paginator = client.get_paginator("list_objects_v2")
            pages = paginator.paginate(
                Bucket=bucket,
                Prefix=prefix,
                PaginationConfig={"PageSize": page_size} if page_size else {},
            )
            async for page in pages:
                for item in page.get("Contents", []):
                    found.append(ObjectInfo(f"s3://{bucket}/{item['Key']}", int(item["Size"])))
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error("list", url_prefix, exc) from exc
    return sorted(found, key=lambda o: o.url)


async def read_many(urls: Sequence[str], concurrency: int = 16) -> AsyncIterator[tuple[str, bytes]]:
    """Read files concurrently (at most `concurrency` at once); yields in completion order.

    A file that cannot be read raises StorageError from the iterator.
    """
    if not urls:
        return
    semaphore = asyncio.Semaphore(max(1, concurrency))
    async with contextlib.AsyncExitStack() as stack:
        client = None
        if any(is_s3(u) for u in urls):
            client = await stack.enter_async_context(s3_client())

        async def fetch(url: str) -> tuple[str, bytes]:
            async with semaphore:
                if is_s3(url):
                    return url, await aread_bytes(url, client)
                return url, await asyncio.to_thread(read_local, url)

        tasks = [asyncio.ensure_future(fetch(u)) for u in urls]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def adownload(url: str, destination: Path) -> None:
    """Copy a (possibly large) file to a local path, streaming S3 bodies in chunks."""
    if not is_s3(url):
        try:
            shutil.copyfile(local_path(url), destination)
        except OSError as exc:
            raise StorageError(f"cannot read {url}: {exc.strerror or exc}") from exc
        return
    bucket, key = split_s3(url)
    try:
        async with s3_client() as client:
            response = await client.get_object(Bucket=bucket, Key=key)
            async with response["Body"] as body:
                with destination.open("wb") as out:
                    while chunk := await body.read(_READ_CHUNK):
                        out.write(chunk)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error("read", url, exc) from exc


def read_local(url: str) -> bytes:
    path = local_path(url)
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise StorageError(f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise StorageError(f"{path} is a folder, not a file") from exc
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def write_local(url: str, data: bytes) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path = local_path(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as f:
            f.write(data)
        os.replace(f.name, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _list_local(url: str) -> list[ObjectInfo]:
    root = local_path(url)
    if root.is_file():
        return [ObjectInfo(url, root.stat().st_size)]
    if not root.is_dir():
        return []
    keep_scheme = url.startswith("file://")
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        shown = f"file://{path}" if keep_scheme else str(path)
        found.append(ObjectInfo(shown, path.stat().st_size))
    return found


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def read_bytes(url: str) -> bytes:
    """The whole content of a file (local or S3); StorageError if it cannot be read."""
    if not is_s3(url):
        return read_local(url)
    return run_sync(aread_bytes(url))


def write_bytes(url: str, data: bytes) -> None:
    """Create or replace a file (local folders are created as needed)."""
    if not is_s3(url):
        write_local(url, data)
        return
    run_sync(awrite_bytes(url, data))


def list_objects_sync(url_prefix: str) -> list[ObjectInfo]:
    return run_sync(list_objects(url_prefix))


@contextlib.contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """A local path holding the file: the file itself, or a temporary download of an S3 object."""
    if not is_s3(url):
        path = local_path(url)
        if not path.exists():
            raise StorageError(f"{path} does not exist")
        if path.is_dir():
            raise StorageError(f"{path} is a folder, not a file")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="infertap-") as folder:
        target = Path(folder) / (split_s3(url)[1].rsplit("/", 1)[-1] or "object")
        run_sync(adownload(url, target))
        yield target
