"""Capture files on local disk: append to open files, seal them, recover them after a crash.

Layout below the spool folder: `open/<key>` while a file is written, `sealed/<key>` once it is
complete, where `<key>` is the destination key without the prefix
(`endpoint/variant/YYYY/MM/DD/HH/MM-SS-mmm-uuid.jsonl`), so a restart knows where every file goes.
All methods block on disk I/O; the writer and uploader call them through `asyncio.to_thread`.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sidecar.common.layout import (
    file_name,
    hour_from_key,
    hour_of,
    is_capture_file_name,
    partition_key,
)
from sidecar.errors import SidecarError
from sidecar.metrics import SidecarMetrics

logger = logging.getLogger(__name__)

OPEN = "open"
SEALED = "sealed"
LOCK = ".lock"
_KEY_PARTS = 7  # endpoint/variant/YYYY/MM/DD/HH/name
_TAIL_CHUNK = 64 * 1024


class SpoolError(SidecarError, OSError):
    """The spool folder cannot be used."""


class SpoolLockedError(SpoolError):
    """Another live sidecar process holds the spool folder."""


@dataclass(slots=True)
class OpenFile:
    """A spool file being appended to; `size` counts only bytes known to be written whole."""

    key: str
    hour: datetime
    path: Path
    opened_at: float  # monotonic seconds, for the age limit
    fd: int
    size: int = 0


@dataclass(frozen=True, slots=True)
class SealedFile:
    """A complete spool file waiting for delivery to `key` (relative to the destination prefix)."""

    key: str
    path: Path
    size: int


@dataclass(slots=True)
class _Usage:
    files: int = 0
    bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _complete_length(path: Path) -> int:
    """The length of `path` up to and including its last newline (0 when it has none)."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - _TAIL_CHUNK)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            position = start
    return 0


def _is_capture_key(relative: PurePosixPath) -> bool:
    parts = relative.parts
    return (
        len(parts) == _KEY_PARTS
        and is_capture_file_name(parts[-1])
        and hour_from_key(str(relative)) is not None
    )


class Spool:
    """One spool folder, owned by one process at a time (an `flock` on `.lock` makes sure)."""

    def __init__(self, root: Path, endpoint: str, variant: str) -> None:
        self.root = root
        self.endpoint = endpoint
        self.variant = variant
        self._usage = _Usage()
        self._lock_fd: int | None = None

    @property
    def file_count(self) -> int:
        """Files in the spool, open and sealed."""
        return self._usage.files

    @property
    def size_bytes(self) -> int:
        """Bytes of whole records in the spool, open and sealed files."""
        return self._usage.bytes

    def _account(self, files: int, size: int) -> None:
        with self._usage.lock:
            self._usage.files += files
            self._usage.bytes += size

    # -- ownership ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Create the folder and lock it; raise SpoolLockedError when another process has it."""
        try:
            (self.root / OPEN).mkdir(parents=True, exist_ok=True)
            (self.root / SEALED).mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SpoolError(
                f"spool folder {self.root} is not writable ({exc.strerror}); "
                "point --spool-dir at a writable folder"
            ) from exc
        if not _try_lock(fd):
            os.close(fd)
            raise SpoolLockedError(
                f"spool folder {self.root} is in use by another sidecar process; "
                "give each process its own --spool-dir"
            )
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # -- writing -----------------------------------------------------------------------------

    def open_file(self, hour: datetime, monotonic_now: float) -> OpenFile:
        """Start a new file for `hour`, named after the current wall-clock moment."""
        key = f"{partition_key(self.endpoint, self.variant, hour)}/{file_name(datetime.now(UTC))}"
        path = self.root / OPEN / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._account(1, 0)
        return OpenFile(key, hour_of(hour), path, monotonic_now, fd)

    def append(self, handle: OpenFile, data: bytes | bytearray | memoryview) -> None:
        """Append whole records; on failure cut the file back to its last whole record.

        No fsync here: written bytes sit in the page cache, which survives a crash or SIGKILL
        of the process (the common failure in a container); `seal` fsyncs, so only a power
        loss can cost the records of files still open (at most one flush interval's worth).
        """
        try:
            _write_all(handle.fd, data)
        except OSError:
            try:
                os.ftruncate(handle.fd, handle.size)
            except OSError:
                logger.error(
                    "spool file could not be cut back after a failed write",
                    extra={"file": str(handle.path)},
                )
            raise
        handle.size += len(data)
        self._account(0, len(data))

    def seal(self, handle: OpenFile) -> SealedFile | None:
        """fsync, close and move to `sealed/`; an empty file is removed instead (None)."""
        try:
            os.ftruncate(handle.fd, handle.size)  # drop bytes of a failed, partial write
            os.fsync(handle.fd)
        finally:
            os.close(handle.fd)
        if handle.size == 0:
            handle.path.unlink(missing_ok=True)
            self._account(-1, 0)
            return None
        target = self.root / SEALED / handle.key
        with self._usage.lock:  # keep `prune` from removing the folder between mkdir and rename
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(handle.path, target)
        _fsync_dir(target.parent)
        return SealedFile(handle.key, target, handle.size)

    def delete(self, sealed: SealedFile) -> None:
        """Remove a delivered file and any partition folders left empty."""
        sealed.path.unlink(missing_ok=True)
        self._account(-1, -sealed.size)
        self._prune(sealed.path.parent, self.root / SEALED)

    def forget(self, sealed: SealedFile) -> None:
        """Stop counting a file that disappeared from disk behind the spool's back."""
        self._account(-1, -sealed.size)

    def _prune(self, folder: Path, stop: Path) -> None:
        with self._usage.lock:
            while folder != stop and stop in folder.parents:
                try:
                    folder.rmdir()
                except OSError:
                    return  # not empty (or already gone): keep the rest
                folder = folder.parent

    # -- recovery ----------------------------------------------------------------------------

    def recover(self, others: Iterable[Path] = ()) -> list[SealedFile]:
        """Seal what a previous run left behind here and in `others`; sealed files, oldest first.

        Open files are cut back to their last whole line (a crash can tear the last record).
        Files from `others` move into this spool; a folder still locked by a live process is
        skipped.
        """
        sealed = [self._recover_file(path, key) for path, key in self._leftovers(self.root)]
        for other in others:
            if other.resolve() == self.root.resolve() or not other.is_dir():
                continue
            foreign = Spool(other, self.endpoint, self.variant)
            try:
                foreign.acquire()
            except SpoolError as exc:
                logger.warning(
                    "spool folder skipped", extra={"folder": str(other), "error": str(exc)}
                )
                continue
            try:
                sealed += [self._recover_file(path, key) for path, key in foreign._leftovers(other)]
            finally:
                foreign.release()
        found = sorted((f for f in sealed if f is not None), key=lambda f: f.key)
        logger.info(
            "spool recovered",
            extra={"folder": str(self.root), "files": len(found), "bytes": self.size_bytes},
        )
        return found

    def _leftovers(self, root: Path) -> Iterator[tuple[Path, str]]:
        for area in (SEALED, OPEN):
            base = root / area
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*.jsonl")):
                relative = PurePosixPath(path.relative_to(base).as_posix())
                if not _is_capture_key(relative):
                    logger.warning("unexpected file in spool left alone", extra={"file": str(path)})
                    continue
                yield path, str(relative)
        for area in (SEALED, OPEN):
            self._prune_tree(root / area)

    def _prune_tree(self, base: Path) -> None:
        if not base.is_dir():
            return
        for folder in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
            self._prune(folder, base)

    def _recover_file(self, path: Path, key: str) -> SealedFile | None:
        try:
            return self._seal_leftover(path, key)
        except OSError as exc:
            # One unreadable file must not keep the sidecar from starting; it stays for a look.
            logger.error(
                "spool file left behind could not be recovered",
                extra={"file": str(path), "error": str(exc)},
            )
            return None

    def _seal_leftover(self, path: Path, key: str) -> SealedFile | None:
        length = _complete_length(path)
        if length != path.stat().st_size:
            logger.warning(
                "torn record cut from spool file",
                extra={"file": str(path), "kept_bytes": length},
            )
            with path.open("r+b") as handle:
                handle.truncate(length)
                os.fsync(handle.fileno())
        if length == 0:
            path.unlink()
            return None
        target = self.root / SEALED / key
        if path != target:
            if target.exists():  # the same file name twice cannot happen (uuid4); keep both
                target = target.with_name(file_name(datetime.now(UTC), uuid.uuid4()))
                key = str(PurePosixPath(key).parent / target.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            _move(path, target)
        self._account(1, length)
        return SealedFile(key, target, length)


def publish_spool_gauges(metrics: SidecarMetrics, spool: Spool) -> None:
    # Explicit sets rather than Gauge.set_function, which multiprocess mode (--workers) ignores.
    metrics.spool_bytes.set(spool.size_bytes)
    metrics.spool_files.set(spool.file_count)


def _move(source: Path, target: Path) -> None:
    """Rename, or copy + fsync + unlink across file systems; durable either way."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        temporary = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, temporary)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        source.unlink()
    _fsync_dir(target.parent)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
