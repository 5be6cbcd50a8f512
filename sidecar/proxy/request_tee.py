"""A request on its way to the upstream; a streamed body goes through a tee that keeps a
bounded copy for capture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from sidecar.capture.budget import CopyHold

STREAM_CHUNK = 1 << 16


class RequestTee:
    """Streams the request body to the upstream, keeping a copy up to the capture `limit` when
    given a share of the copy budget (`hold`); the copy is dropped past either, and
    `over_budget` tells which. A client silent for `timeout` seconds mid-body ends it
    (`timed_out`)."""

    def __init__(
        self,
        content: aiohttp.StreamReader,
        limit: int,
        hold: CopyHold | None,
        timeout: float,
    ) -> None:
        self._content = content
        self._limit = limit
        self._hold = hold
        self._timeout = timeout
        self.timed_out = False
        self.over_budget = False
        self.copy: bytearray | None = bytearray() if hold is not None else None

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
            copy = self.copy
            if copy is not None and self._hold is not None:
                if len(copy) + len(chunk) > self._limit:
                    self.copy = None
                    self._hold.release()  # what it copied is let go
                elif not self._hold.take(len(chunk)):
                    self.copy = None
                    self.over_budget = True
                    self._hold.release()
                else:
                    copy += chunk
            yield chunk


@dataclass(frozen=True, slots=True)
class Outgoing:
    """The request as it goes to the upstream: the origin-form `target`, and its body either
    read whole (`body`, None when there is none) or streamed through `tee`; `hold`: the
    exchange's share of the copy budget (None when it is not captured)."""

    target: str
    body: bytes | None = None
    tee: RequestTee | None = None
    hold: CopyHold | None = None

    @property
    def data(self) -> bytes | RequestTee | None:
        return self.tee if self.tee is not None else self.body
