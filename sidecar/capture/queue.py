"""The bounded in-memory capture queue between the request path and the spool writer.

The request path only calls `stage`, which never waits: when the queue holds `max_bytes`
already, the exchange is refused and the caller counts the drop. Exchanges wait here as they are;
the writer takes them all at once and has them encoded into record lines, a batch at a time, off
the event loop.
"""

from __future__ import annotations

import asyncio

from sidecar.common.exchange import Exchange

# A line's bytes besides the bodies, about: added to the bodies' sizes for the admission bound.
LINE_OVERHEAD = 400


class CaptureQueue:
    """Exchanges waiting for the writer, in arrival order, bounded by their size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._exchanges: list[Exchange] = []
        self._bytes = 0
        self._ready = asyncio.Event()

    @property
    def size_bytes(self) -> int:
        """The size estimates of the exchanges queued: their bodies plus LINE_OVERHEAD each."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._exchanges)

    def stage(self, exchange: Exchange, body_bytes: int) -> bool:
        """Queue an exchange whose bodies hold `body_bytes`, without waiting; False when it does
        not fit (the caller counts it)."""
        size = LINE_OVERHEAD + body_bytes
        if self._bytes + size > self.max_bytes:
            return False
        self._exchanges.append(exchange)
        self._bytes += size
        self._ready.set()
        return True

    def take(self) -> list[Exchange]:
        """Everything queued now, in arrival order; empties the queue."""
        exchanges, self._exchanges = self._exchanges, []
        self._bytes = 0
        self._ready.clear()
        return exchanges

    async def wait_ready(self, seconds: float | None = None) -> bool:
        """Wait until something is queued (True) or `seconds` pass (False)."""
        if self._exchanges:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True
