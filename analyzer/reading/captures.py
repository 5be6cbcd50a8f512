"""Capture files of a window: list the hour folders in [start, end) and read files concurrently.

Listing and reading run on an event loop (S3 through one aiobotocore client, local files in
threads); `iter_files` hands the bytes to the caller's thread as they arrive, so profiling one
file overlaps reading the next. A file that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analyzer.errors import AnalyzerError, CaptureError
from analyzer.reading import storage
from analyzer.reading.storage import ObjectInfo
from sidecar.common.layout import hour_from_key, hours_between, is_capture_file_name, partition_key

_PUT_POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class CaptureListing:
    """The capture files of a window, and the other files found in its hour folders."""

    files: list[ObjectInfo]
    prefixes: list[str]
    ignored: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True, slots=True)
class FileData:
    """One file's content, or why it could not be read."""

    url: str
    data: bytes | None
    error: str | None = None


def window_prefixes(
    captures: str, endpoint: str, variant: str, start: datetime, end: datetime
) -> list[str]:
    """The hour folders `{captures}/{endpoint}/{variant}/YYYY/MM/DD/HH/` of [start, end)."""
    prefixes = []
    for hour in hours_between(start, end):
        prefix = storage.join(captures, partition_key(endpoint, variant, hour))
        # A trailing slash keeps S3 from matching sibling keys that merely start alike.
        prefixes.append(prefix + "/" if storage.is_s3(prefix) else prefix)
    return prefixes


async def alist_capture_files(prefixes: list[str], concurrency: int = 16) -> CaptureListing:
    """List hour folders concurrently; keep capture-named `.jsonl` files.

    Files of all sidecar replicas share the hour folders (their uuids keep names apart), so all
    of them are read. An S3 folder is listed to its last page (S3 pages hold 1,000 keys).
    Raises CaptureError when a folder cannot be listed (no bucket, no access).
    """
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(prefix: str) -> list[ObjectInfo]:
        async with semaphore:
            try:
                return await storage.list_objects(prefix)
            except AnalyzerError as exc:
                raise CaptureError(f"cannot list capture files under {prefix}: {exc}") from exc

    listed = await asyncio.gather(*(one(p) for p in prefixes))
    files: list[ObjectInfo] = []
    ignored: list[str] = []
    for objects in listed:
        for info in objects:
            name = info.url.rsplit("/", 1)[-1]
            if is_capture_file_name(name) and hour_from_key(info.url) is not None:
                files.append(info)
            else:
                ignored.append(info.url)
    files.sort(key=lambda info: info.url)
    return CaptureListing(files=files, prefixes=prefixes, ignored=ignored)


def list_window(
    captures: str,
    endpoint: str,
    variant: str,
    start: datetime,
    end: datetime,
    concurrency: int = 16,
) -> CaptureListing:
    """The capture files whose hour folders fall in [start, end), sorted by URL, with the listed
    prefixes and the ignored files."""
    prefixes = window_prefixes(captures, endpoint, variant, start, end)
    return storage.run_sync(alist_capture_files(prefixes, concurrency))


def iter_files(urls: Sequence[str], concurrency: int = 16) -> Generator[FileData, None, None]:
    """Read files concurrently in a background thread; yield them in completion order.

    At most `concurrency` reads are in flight and as many finished files wait for the caller,
    which bounds memory. Closing the iterator early stops the reader.
    """
    if not urls:
        return
    results: queue.Queue[FileData | None] = queue.Queue(maxsize=max(1, concurrency))
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(_read_all(urls, concurrency, results, stop)),
        name="capture-reader",
        daemon=True,
    )
    thread.start()
    try:
        while True:
            item = results.get()
            if item is None:
                break
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


async def _read_all(
    urls: Sequence[str],
    concurrency: int,
    results: queue.Queue[FileData | None],
    stop: threading.Event,
) -> None:
    semaphore = asyncio.Semaphore(max(1, concurrency))
    done: set[str] = set()
    try:
        async with contextlib.AsyncExitStack() as stack:
            client: Any = None
            if any(storage.is_s3(u) for u in urls):
                client = await stack.enter_async_context(storage.s3_client())

            async def fetch(url: str) -> None:
                async with semaphore:
                    if stop.is_set():
                        return
                    item = await _read_one(url, client)
                    done.add(url)
                    await asyncio.to_thread(_put, results, item, stop)

            await asyncio.gather(*(fetch(u) for u in urls))
    except Exception as exc:  # e.g. no credentials at all: every remaining file is unreadable
        for url in urls:
            if stop.is_set():
                break
            if url not in done:
                _put(results, FileData(url, None, f"reader failed: {exc}"), stop)
    finally:
        _put(results, None, stop)


async def _read_one(url: str, client: Any) -> FileData:
    try:
        if storage.is_s3(url):
            return FileData(url, await storage.aread_bytes(url, client))
        return FileData(url, await asyncio.to_thread(storage.read_local, url))
    except AnalyzerError as exc:
        return FileData(url, None, str(exc))


def _put(
    results: queue.Queue[FileData | None], item: FileData | None, stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            results.put(item, timeout=_PUT_POLL_SECONDS)
            return
        except queue.Full:
            continue
