"""Helpers for the fault-injection tests: the conservation check, memory readings, a faulty S3.

The conservation law: every sampled exchange is delivered, in a spool file on disk, or counted
under a drop reason in `infertap_capture_records_total`, and none is in two places.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record, parse_record
from sidecar.metrics import CAPTURED, DROP_REASONS
from tests.conftest import free_port
from tests.sidecar.conftest import SidecarProcess
from tests.sidecar.delivery_support import PAST, spool_files

MIB = 2**20
# What a sidecar may use above its idle RSS besides the capture queue: upload buffers (streamed
# in chunks from disk), a batch of lines being written, in-flight requests. README states it.
MEMORY_MARGIN = 32 * MIB


def proc_status_bytes(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS now, VmHWM the peak so far), in bytes."""
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith(field + ":"):
            return int(text.split()[1]) * 1024
    raise AssertionError(f"/proc/{pid}/status has no {field} line")


def assert_memory_bounded(sidecar: SidecarProcess, idle_rss: int, queue_max_bytes: int) -> None:
    """Peak RSS so far stays under idle RSS + --queue-max-bytes + MEMORY_MARGIN."""
    peak = proc_status_bytes(sidecar.pid, "VmHWM")
    ceiling = idle_rss + queue_max_bytes + MEMORY_MARGIN
    assert peak <= ceiling, (
        f"peak RSS {peak / MIB:.1f} MiB above the ceiling {ceiling / MIB:.1f} MiB "
        f"(idle {idle_rss / MIB:.1f} + queue {queue_max_bytes / MIB:.1f} + margin)"
    )


def ids_in(bodies: Iterable[bytes]) -> Counter[str]:
    """How often each inference id occurs in the whole lines of the given file bodies."""
    counts: Counter[str] = Counter()
    for body in bodies:
        for text in body.splitlines(keepends=True):
            if text.endswith(b"\n"):  # a torn last line is not a record
                counts[str(parse_record(text).inference_id)] += 1
    return counts


def spool_ids(spool: Path) -> Counter[str]:
    bodies = []
    for path in spool_files(spool):
        with contextlib.suppress(FileNotFoundError):  # sealed and moved, or delivered, meanwhile
            bodies.append(path.read_bytes())
    return ids_in(bodies)


@dataclass(frozen=True)
class Ledger:
    """Where the sampled exchanges are: delivered, on disk, or dropped (by the counters)."""

    delivered: Counter[str]
    on_disk: Counter[str]
    captured: float
    drops: dict[str, float]

    def balances(self, sampled: int) -> bool:
        placed = sum(self.delivered.values()) + sum(self.on_disk.values())
        once = not (self.delivered & self.on_disk) and all(
            n == 1 for n in (self.delivered + self.on_disk).values()
        )
        return once and placed + sum(self.drops.values()) == sampled


def ledger(sidecar: SidecarProcess, delivered: Iterable[bytes], inherited: int = 0) -> Ledger:
    """The ledger now; `inherited` records were on disk before the process started."""
    samples = sidecar.metrics()

    def count(outcome: str) -> float:
        return samples.get(f'infertap_capture_records_total{{outcome="{outcome}"}}', 0.0)

    return Ledger(
        delivered=ids_in(delivered),
        on_disk=spool_ids(sidecar.spool_dir),
        captured=count(CAPTURED) + inherited,
        drops={reason: count(reason) for reason in DROP_REASONS if count(reason)},
    )


def assert_conserved(
    sidecar: SidecarProcess, sampled: int, delivered: Iterable[bytes], inherited: int = 0
) -> Ledger:
    """delivered + on disk + counted drops == sampled, each record in one place only.

    Call it once the queue is empty and no delivery is under way (the store down, or done).
    """
    books = ledger(sidecar, delivered, inherited)
    assert books.balances(sampled + inherited), (
        f"{sum(books.delivered.values())} delivered + {sum(books.on_disk.values())} on disk + "
        f"drops {books.drops} != {sampled + inherited} sampled (or a record is in two places)"
    )
    placed = sum(books.delivered.values()) + sum(books.on_disk.values())
    assert placed == books.captured, f"{placed} records placed, {books.captured} counted captured"
    return books


def prefill_sealed(spool: Path, files: int, file_bytes: int, prefix: str) -> int:
    """Sealed capture files waiting in `spool` before a start; the number of records in them."""
    records = 0
    payload = Payload("text/csv", b"1," * 2000 + b"1")
    for _ in range(files):
        key = f"{partition_key('test-endpoint', 'AllTraffic', PAST)}/"
        path = spool / "sealed" / key / file_name(datetime.now(UTC), uuid.uuid4())
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            while out.tell() < file_bytes:
                out.write(
                    build_record(
                        inference_time=PAST,
                        request=payload,
                        response=payload,
                        inference_id=f"{prefix}-{records}",
                    )
                )
                records += 1
    return records


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` and everything below it unwritable, even for root (immutable attribute)."""
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    if os.geteuid() != 0:
        for path in folders:
            path.chmod(0o555)
        try:
            yield
        finally:
            for path in folders:
                path.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", *map(str, folders)]).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a folder read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", *map(str, folders)], check=True)


S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>injected by the test</Message><RequestId>test</RequestId></Error>"
)
_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class FaultyS3:
    """An S3 endpoint on 127.0.0.1 that answers PUTs with injected errors, else forwards to moto.

    Runs its own event loop in a thread, so subprocess sidecars can use it.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = free_port()
        self.errors: list[tuple[int, str]] = []  # answered in turn, round robin, while set
        self.answered: Counter[int] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_with(self, *errors: tuple[int, str]) -> None:
        """Answer each PUT with the next of these (status, S3 error code); none: forward all."""
        self.errors = list(errors)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * MIB)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "PUT" and self.errors:
            status, code = self.errors[sum(self.answered.values()) % len(self.errors)]
            self.answered[status] += 1
            return web.Response(
                status=status, text=S3_ERROR.format(code=code), content_type="application/xml"
            )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method, self.target + request.path_qs, headers=headers, data=body
        ) as answer:
            data = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            self.answered[answer.status] += 1
            return web.Response(status=answer.status, body=data, headers=kept)


@contextlib.contextmanager
def faulty_s3(target: str) -> Iterator[FaultyS3]:
    server = FaultyS3(target)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def send(sidecar: SidecarProcess, ids: Iterable[str], body: bytes = b"1,2,3\n") -> list[str]:
    """POST one captured exchange per id; the ids the sidecar answered 200 for."""
    answered = []
    for inference_id in ids:
        request = urllib.request.Request(
            sidecar.url + "/invocations",
            data=body,
            headers={"Content-Type": "text/csv", "X-Inference-Id": inference_id},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        answered.append(inference_id)
    return answered
