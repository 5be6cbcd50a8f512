"""A streamed request body on its way to the upstream, with a bounded copy kept for capture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

STREAM_CHUNK = 1 << 16


class RequestTee:
    """Streams the request body to the upstream, keeping a copy up to the capture limit; a
    client silent for `timeout` seconds mid-body ends it (`timed_out`)."""

    def __init__(self, content: aiohttp.StreamReader, limit: int | None, timeout: float) -> None:
        self._content = content
        self._limit = limit
        self._timeout = timeout
        self.timed_out = False
        self.copy: bytearray | None = bytearray() if limit is not None else None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = self._content.read
        while True:
            try:
                async with asyncio.timeout(self._timeout):
                    chunk = await read(STREAM_CHUNK)
            except TimeoutError:
                # aiohttp's client reports the failed body as a connection error: remember why.
                self.timed_out = True
                raise
            if not chunk:
                return
            if self.copy is not None and self._limit is not None:
                if len(self.copy) + len(chunk) > self._limit:
                    self.copy = None
                else:
                    self.copy += chunk
            yield chunk
