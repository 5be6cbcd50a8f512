"""Spool files on disk: where they live while written and sealed, and recovery after a crash."""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sidecar.delivery.spool import Spool, SpoolError, SpoolLockedError
from tests.sidecar.delivery_support import file_size_limit, line

HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)
LIMIT = 1 << 20
NAME = r"\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool", "ep", "AllTraffic")
    spool.acquire()
    yield spool
    spool.release()


def test_open_append_seal_paths_and_accounting(spool: Spool) -> None:
    handle = spool.open_file(HOUR + timedelta(minutes=24), time.monotonic())
    assert re.fullmatch(rf"ep/AllTraffic/2026/11/25/08/{NAME}", handle.key)
    assert handle.path == spool.root / "open" / handle.key
    data = line(HOUR, "a") + line(HOUR, "b")
    spool.append(handle, data[:10])
    spool.append(handle, data[10:])
    assert (spool.file_count, spool.size_bytes) == (1, len(data))

    sealed = spool.seal(handle)
    assert sealed is not None
    assert sealed.path == spool.root / "sealed" / handle.key
    assert sealed.path.read_bytes() == data and not handle.path.exists()
    assert (sealed.key, sealed.size) == (handle.key, len(data))

    spool.delete(sealed)
    assert (spool.file_count, spool.size_bytes) == (0, 0)
    assert list((spool.root / "sealed").iterdir()) == []  # empty partition folders pruned


def test_sealing_an_empty_file_removes_it(spool: Spool) -> None:
    handle = spool.open_file(HOUR, time.monotonic())
    assert spool.seal(handle) is None
    assert not handle.path.exists() and spool.file_count == 0


def test_recover_cuts_torn_lines_and_seals(spool: Spool, tmp_path: Path) -> None:
    whole = line(HOUR, "whole")
    handle = spool.open_file(HOUR, time.monotonic())
    spool.append(handle, whole + line(HOUR, "torn")[:-7])
    empty = spool.open_file(HOUR, time.monotonic())
    spool.append(empty, b'{"captureData":')
    spool.release()

    again = Spool(spool.root, "other-endpoint", "v")  # names come from the files, not settings
    again.acquire()
    try:
        (recovered,) = again.recover()
    finally:
        again.release()
    assert recovered.key == handle.key
    assert recovered.path == spool.root / "sealed" / handle.key
    assert recovered.path.read_bytes() == whole
    assert not empty.path.exists()
    assert (again.file_count, again.size_bytes) == (1, len(whole))


def test_recover_takes_files_from_other_folders_unless_locked(spool: Spool, tmp_path: Path) -> None:
    free, busy = Spool(tmp_path / "free", "ep", "v"), Spool(tmp_path / "busy", "ep", "v")
    for other in (free, busy):
        other.acquire()
        handle = other.open_file(HOUR, time.monotonic())
        other.append(handle, line(HOUR, str(other.root)))
        other.seal(handle)
    free.release()  # `busy` stays locked, as a live process would hold it

    recovered = spool.recover([free.root, busy.root, tmp_path / "absent", spool.root])
    assert [f.path.parent.parent.parent.parent.parent.parent.parent for f in recovered] == [
        spool.root / "sealed"
    ]
    assert list((free.root / "sealed").rglob("*.jsonl")) == []
    assert len(list((busy.root / "sealed").rglob("*.jsonl"))) == 1
    busy.release()


def test_one_process_per_spool_folder(spool: Spool, tmp_path: Path) -> None:
    with pytest.raises(SpoolLockedError, match="in use by another sidecar process"):
        Spool(spool.root, "ep", "v").acquire()
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(SpoolError, match="--spool-dir"):
        Spool(blocker, "ep", "v").acquire()


def test_failed_write_keeps_whole_records_only(spool: Spool) -> None:
    handle = spool.open_file(HOUR, time.monotonic())
    first = line(HOUR, "ok")
    spool.append(handle, first)
    big = line(HOUR, "too-big", filler=LIMIT)
    with file_size_limit(LIMIT), pytest.raises(OSError) as failure:
        spool.append(handle, big)  # part of it lands on disk before the kernel says no
    assert failure.value.errno == errno.EFBIG
    assert spool.size_bytes == len(first)
    sealed = spool.seal(handle)
    assert sealed is not None and sealed.path.read_bytes() == first
