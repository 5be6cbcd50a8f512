"""The bounded in-memory capture queue between the request path and the spool writer.

The request path only calls `stage`, which never waits: when the queue holds `max_bytes`
already, the exchange is refused and the caller counts the drop. Staged exchanges are turned
into lines by the builder (which `offer`s each line) in one batch when the writer takes them:
the same code run hundreds of times in a row costs far less CPU than once per request between
the server's own work. Lines go into one buffer per partition hour, so each line's bytes object
is freed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sidecar.capture.streams import StreamResult

# One exchange waiting for its line, in `Capturer.stage`'s argument order: arrived, inference id,
# path, status, request type and body, response type and body, upstream latency, truncated, and
# for an event stream its capture.streams.StreamResult (else None).
Exchange = tuple[
    float, str | None, str, int, str, bytes, str, bytes, float | None, bool,
    StreamResult | None,
]  # fmt: skip
# Turns staged exchanges into lines, calling `offer` for each.
Builder = Callable[[list[Exchange]], None]
# A line's bytes besides the bodies and the path, about: the admission estimate of an exchange.
LINE_OVERHEAD = 400


def _estimate(exchange: Exchange) -> int:
    return LINE_OVERHEAD + len(exchange[2]) + len(exchange[5]) + len(exchange[7])


@dataclass(slots=True)
class HourBatch:
    """Queued records of one partition hour: their bytes back to back, and where each ends."""

    hour: datetime
    data: bytearray = field(default_factory=bytearray)
    ends: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ends)

    def lines(self) -> Iterator[bytes]:
        start = 0
        for end in self.ends:
            yield bytes(self.data[start:end])
            start = end


class CaptureQueue:
    """Records waiting for the writer, grouped by partition hour and bounded by their bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._batches: dict[datetime, HourBatch] = {}
        self._last: HourBatch | None = None
        self._count = 0
        self._bytes = 0
        self._staged: list[Exchange] = []
        self._staged_bytes = 0
        self._builder: Builder | None = None
        self._ready = asyncio.Event()

    @property
    def size_bytes(self) -> int:
        """Bytes of the lines queued, plus the size estimates of exchanges staged."""
        return self._bytes + self._staged_bytes

    def __len__(self) -> int:
        return self._count + len(self._staged)

    def set_builder(self, builder: Builder) -> None:
        self._builder = builder

    def stage(self, exchange: Exchange) -> bool:
        """Keep an exchange for the builder without waiting; False when its line would not fit,
        by estimate (the caller counts it)."""
        if self._builder is None:
            raise RuntimeError("CaptureQueue.stage called before set_builder")
        # `_estimate`, inlined: this runs once per captured request.
        estimate = LINE_OVERHEAD + len(exchange[2]) + len(exchange[5]) + len(exchange[7])
        if self._bytes + self._staged_bytes + estimate > self.max_bytes:
            return False
        self._staged.append(exchange)
        self._staged_bytes += estimate
        self._ready.set()
        return True

    def build(self, limit: int | None = None) -> int:
        """Turn up to `limit` staged exchanges (oldest first; all when None) into queued lines;
        returns how many are still staged."""
        if self._staged and self._builder is not None:
            if limit is None or limit >= len(self._staged):
                chunk, self._staged, self._staged_bytes = self._staged, [], 0
            else:
                chunk = self._staged[:limit]
                del self._staged[:limit]
                self._staged_bytes -= sum(map(_estimate, chunk))
            self._builder(chunk)
        return len(self._staged)

    def offer(self, hour: datetime, line: bytes) -> bool:
        """Enqueue without waiting; False when the record does not fit (the caller counts it)."""
        size = len(line)
        if self._bytes + self._staged_bytes + size > self.max_bytes:
            return False
        batch = self._last
        # The capturer passes the same hour object all hour long: identity is the cheap test.
        if batch is None or batch.hour is not hour:
            batch = self._batches.get(hour)
            if batch is None:
                batch = self._batches[hour] = HourBatch(hour)
            self._last = batch
        data = batch.data
        data += line
        batch.ends.append(len(data))
        self._bytes += size
        self._count += 1
        self._ready.set()
        return True

    def take(self) -> list[HourBatch]:
        """Everything queued now (staged exchanges built first), one batch per hour, records in
        arrival order; empties the queue."""
        self.build()
        batches = list(self._batches.values())
        self._batches = {}
        self._last = None
        self._count = 0
        self._bytes = 0
        self._ready.clear()
        return batches

    def take_all(self) -> list[tuple[datetime, bytes]]:
        """Everything queued now as `(hour, line)` pairs, hour by hour; empties the queue."""
        return [(batch.hour, line) for batch in self.take() for line in batch.lines()]

    async def wait_ready(self, seconds: float | None = None) -> bool:
        """Wait until something is queued (True) or `seconds` pass (False)."""
        if len(self):
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True
