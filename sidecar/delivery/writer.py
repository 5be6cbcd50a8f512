"""The spool writer: drains the capture queue into per-hour spool files and decides when to seal.

A file is sealed when the next record would push it past --max-file-bytes, when it is
--flush-interval old, or when its hour ended (plus a margin for late records). Each batch of
exchanges taken from the queue is encoded into record lines (`record.RecordEncoder`) on the event
loop, a few exchanges at a time with requests served in between, and written in one thread call,
so the event loop never waits on the disk. (Encoding in the thread took the same CPU, but as one
burst per batch that requests waited behind, for the GIL and for the core a sidecar is given.)
Each exchange taken from the queue is counted once: `captured` when its line is in a spool file,
else `redact_error`, `encode_error`, `spool_full` or `write_error`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sidecar.capture.queue import CaptureQueue
from sidecar.common.encoded import EncodedHour
from sidecar.common.exchange import Exchange
from sidecar.common.layout import HOUR, hour_of
from sidecar.common.logs import Throttle
from sidecar.common.record import RecordEncoder
from sidecar.delivery.spool import OpenFile, SealedFile, Spool, publish_spool_gauges
from sidecar.metrics import (
    CAPTURED,
    DROP_ENCODE_ERROR,
    DROP_REDACT_ERROR,
    DROP_SPOOL_FULL,
    DROP_WRITE_ERROR,
    SidecarMetrics,
)

logger = logging.getLogger(__name__)

# A record's hour is its request's arrival; it can reach the queue after the hour ended (a slow
# upstream). Keep the hour's file open this long past the hour's end to take such records.
HOUR_END_MARGIN = 5.0
MAX_IDLE_WAIT = 1.0  # seconds between seal checks when no record arrives
# At most this many batches a second: under load, one batch of lines built, one disk write and
# one thread hand-off per interval instead of per record; records wait this much longer in
# memory at most (at 10k records/s, about 1 MB is queued).
BATCH_INTERVAL = 0.1
# Exchanges encoded between two turns of the event loop, and the most body bytes among them
# (one larger exchange is a slice of its own): about 30 us of work for small bodies, the most a
# request arriving meanwhile waits for it.
ENCODE_SLICE = 8
ENCODE_SLICE_BYTES = 64 * 1024
FINAL_DRAIN_ROUNDS = 100  # bounded: the request path has stopped when the final drain runs


@dataclass(slots=True)
class _BatchResult:
    written_bytes: int = 0
    written: int = 0
    rejected: int = 0
    encode_errors: int = 0
    spool_full: int = 0
    write_errors: int = 0
    sealed: list[SealedFile] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        return (
            self.written + self.rejected + self.encode_errors + self.spool_full + self.write_errors
        )


@dataclass(frozen=True, slots=True)
class WriterLimits:
    max_file_bytes: int
    flush_interval: float
    spool_max_bytes: int


class Writer:
    """Owns the open spool files; `run` until `request_stop`, then drain and seal everything."""

    def __init__(
        self,
        spool: Spool,
        queue: CaptureQueue,
        metrics: SidecarMetrics,
        limits: WriterLimits,
        on_sealed: Callable[[SealedFile], None],
        encoder: RecordEncoder,
    ) -> None:
        self.spool = spool
        self.queue = queue
        self.encoder = encoder
        self.metrics = metrics
        self._outcomes = metrics.capture_outcomes
        self.limits = limits
        self.on_sealed = on_sealed
        self._open: dict[datetime, OpenFile] = {}
        self._stopping = asyncio.Event()
        # A full or failing disk stays so for a while: one log line per interval, not per batch.
        self._full_log = Throttle(every=10.0)
        self._error_log = Throttle(every=10.0)
        self._encode_log = Throttle(every=10.0)

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._wait(self._next_due() - time.monotonic())
                if await self._write(self._take()):
                    await self._pause(BATCH_INTERVAL)
                if self._due(everything=False):
                    await self._seal(everything=False)
            except Exception:
                # Unexpected: log, and keep the writer alive rather than fill the queue forever.
                logger.exception("spool writer iteration failed")
                await self._pause(MAX_IDLE_WAIT)
        try:
            for _ in range(FINAL_DRAIN_ROUNDS):
                if not await self._write(self._take()):
                    break
        finally:
            await self._seal(everything=True)

    def _take(self) -> list[Exchange]:
        # The backlog found now; `_publish` sets what piled up while the batch was written.
        self.metrics.capture_queue_bytes.set(self.queue.size_bytes)
        return self.queue.take()

    async def _pause(self, seconds: float) -> None:
        """Let records gather for the next batch; cut short by `request_stop`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _wait(self, seconds: float) -> None:
        if len(self.queue):
            return
        timeout = min(max(seconds, 0.0), MAX_IDLE_WAIT)
        ready = asyncio.ensure_future(self.queue.wait_ready(timeout))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((ready, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            stopping.cancel()

    def _next_due(self) -> float:
        """Monotonic time at which the next open file must be sealed (far ahead if none)."""
        now_mono, now_wall = time.monotonic(), datetime.now(UTC)
        due = now_mono + MAX_IDLE_WAIT
        for hour, handle in self._open.items():
            hour_end = (hour + HOUR - now_wall).total_seconds() + HOUR_END_MARGIN
            due = min(due, handle.opened_at + self.limits.flush_interval, now_mono + hour_end)
        return due

    def _due(self, everything: bool) -> list[datetime]:
        now_mono, now_wall = time.monotonic(), datetime.now(UTC)
        return [
            hour
            for hour, handle in self._open.items()
            if everything
            or now_mono - handle.opened_at >= self.limits.flush_interval
            or (now_wall - hour - HOUR).total_seconds() >= HOUR_END_MARGIN
        ]

    async def _write(self, exchanges: list[Exchange]) -> int:
        """Encode and write what was taken from the queue; returns how many exchanges it held."""
        records = len(exchanges)
        if not records:
            return 0
        result = _BatchResult()
        try:
            hours = await self._encode(exchanges, result)
            await asyncio.to_thread(self._write_batch, hours, result)
        finally:
            # Whatever happened, every record of the batch is written or counted as dropped.
            result.write_errors += records - result.accounted
            self._publish(result)
        return records

    async def _encode(self, exchanges: list[Exchange], result: _BatchResult) -> list[EncodedHour]:
        """Record lines for `exchanges` by hour, one `encode_slices` slice per turn of the event
        loop; the slices of one hour joined again, for one write."""
        slices: dict[datetime, list[EncodedHour]] = {}
        for index, piece in enumerate(encode_slices(exchanges)):
            if index:
                await asyncio.sleep(0)  # the requests that arrived meanwhile go first
            encoded = self.encoder.encode(piece)
            result.rejected += encoded.rejected
            result.encode_errors += encoded.failed
            for part in encoded.hours:
                slices.setdefault(part.hour, []).append(part)
        return [
            parts[0]
            if len(parts) == 1
            else EncodedHour(hour, b"".join(p.data for p in parts), sum(p.count for p in parts))
            for hour, parts in slices.items()
        ]

    async def _seal(self, everything: bool) -> None:
        result = _BatchResult()
        await asyncio.to_thread(self._seal_hours, self._due(everything), result)
        self._publish(result)

    def _publish(self, result: _BatchResult) -> None:
        count = self._outcomes.count
        count(CAPTURED, result.written)
        count(DROP_REDACT_ERROR, result.rejected)
        count(DROP_ENCODE_ERROR, result.encode_errors)
        count(DROP_SPOOL_FULL, result.spool_full)
        count(DROP_WRITE_ERROR, result.write_errors)
        if result.written_bytes:
            self.metrics.capture_bytes.inc(result.written_bytes)
        for sealed in result.sealed:
            self.on_sealed(sealed)
        self.metrics.capture_queue_bytes.set(self.queue.size_bytes)
        publish_spool_gauges(self.metrics, self.spool)

    # -- in the worker thread: the disk ------------------------------------------------------

    def _write_batch(self, hours: list[EncodedHour], result: _BatchResult) -> None:
        for batch in hours:
            self._write_hour(batch, result)
        if result.encode_errors and (failed := self._encode_log.add(result.encode_errors)):
            logger.warning("capture records could not be encoded", extra={"records": failed})
        if result.spool_full and (dropped := self._full_log.add(result.spool_full)):
            logger.warning(
                "spool full: capture records dropped",
                extra={
                    "records": dropped,
                    "spool_bytes": self.spool.size_bytes,
                    "spool_max_bytes": self.limits.spool_max_bytes,
                },
            )

    def _write_hour(self, batch: EncodedHour, result: _BatchResult) -> None:
        """Append the batch's records to their hour's file, in as few writes as the limits allow.

        A record that would take the spool past its cap is dropped (later, smaller ones may
        still fit); one that would take the file past --max-file-bytes starts a new file.
        """
        hour = hour_of(batch.hour)
        view = memoryview(batch.data)
        handle = self._open.get(hour)
        spool_room = self.limits.spool_max_bytes - self.spool.size_bytes
        if len(view) <= min(
            spool_room, self.limits.max_file_bytes - (handle.size if handle else 0)
        ):
            self._append(hour, view, len(batch), result)  # the usual case: all in one write
            return
        ends = batch.ends
        index, start = 0, 0  # the next record and where its bytes start
        while index < len(ends):
            handle = self._open.get(hour)
            in_file = handle.size if handle else 0
            spool_room = self.limits.spool_max_bytes - self.spool.size_bytes
            room = min(spool_room, self.limits.max_file_bytes - in_file)
            stop = bisect.bisect_right(ends, start + room, index)  # records index..stop-1 fit
            if stop == index:
                if ends[index] - start > spool_room:
                    result.spool_full += 1
                    start = ends[index]
                    index += 1
                    continue
                if in_file:
                    self._seal_hours([hour], result)
                    continue
                stop = index + 1  # larger than --max-file-bytes: a file of its own
            end = ends[stop - 1]
            self._append(hour, view[start:end], stop - index, result)
            index, start = stop, end

    def _append(self, hour: datetime, data: memoryview, records: int, result: _BatchResult) -> None:
        handle = self._open.get(hour)
        try:
            if handle is None:
                handle = self._open[hour] = self.spool.open_file(hour, time.monotonic())
            self.spool.append(handle, data)
        except OSError as exc:
            result.write_errors += records
            if failed := self._error_log.add(records):
                logger.error(
                    "capture records could not be written to the spool",
                    extra={"records": failed, "folder": str(self.spool.root), "error": str(exc)},
                )
            if handle is not None:  # start a fresh file next time rather than reuse a bad one
                self._seal_hours([hour], result)
            return
        result.written_bytes += len(data)
        result.written += records

    def _seal_hours(self, hours: list[datetime], result: _BatchResult) -> None:
        for hour in hours:
            handle = self._open.pop(hour, None)
            if handle is None:
                continue
            try:
                sealed = self.spool.seal(handle)
            except OSError as exc:
                # The records stay in open/ on disk; the next start recovers and sends them.
                logger.error(
                    "spool file could not be sealed",
                    extra={"file": str(handle.path), "error": str(exc)},
                )
                continue
            if sealed is not None:
                result.sealed.append(sealed)


def encode_slices(exchanges: list[Exchange]) -> Iterator[list[Exchange]]:
    """`exchanges` in order, in slices of at most ENCODE_SLICE exchanges and ENCODE_SLICE_BYTES
    of bodies (an exchange larger than that alone)."""
    start, size = 0, 0
    for index, exchange in enumerate(exchanges):
        body = len(exchange.request_body) + len(exchange.response_body)
        if index > start and (index - start == ENCODE_SLICE or size + body > ENCODE_SLICE_BYTES):
            yield exchanges[start:index]
            start, size = index, 0
        size += body
    if start < len(exchanges):
        yield exchanges[start:]
