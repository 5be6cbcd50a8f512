"""The bounded in-memory capture queue between the request path and the spool writer.

The request path only calls `offer`, which never waits: when the queue holds `max_bytes` already,
the record is refused and the caller counts the drop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime


class CaptureQueue:
    """A FIFO of `(partition hour, record line)` bounded by the bytes it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: deque[tuple[datetime, bytes]] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, hour: datetime, line: bytes) -> bool:
        """Enqueue without waiting; False when the record does not fit (the caller counts it)."""
        size = len(line)
        if self._bytes + size > self.max_bytes:
            return False
        self._items.append((hour, line))
        self._bytes += size
        self._ready.set()
        return True

    def take_all(self) -> list[tuple[datetime, bytes]]:
        """Everything queued now, oldest first; the queue is empty afterwards."""
        items = list(self._items)
        self._items.clear()
        self._bytes = 0
        self._ready.clear()
        return items

    async def wait_ready(self, seconds: float | None = None) -> bool:
        """Wait until something is queued (True) or `seconds` pass (False)."""
        if self._items:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True
