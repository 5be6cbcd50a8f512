"""Background delivery of sealed spool files, with retries, bounded concurrency and metrics.

Each sealed file is owned by exactly one worker until the sink confirms it; only then is it
deleted from the spool. A file whose delivery is interrupted stays on disk and is sent again by
the next start under the same key, which overwrites rather than duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from sidecar.delivery.sinks import Sink, SinkError
from sidecar.delivery.spool import SealedFile, Spool, publish_spool_gauges
from sidecar.metrics import UPLOAD_ERROR, UPLOAD_SUCCESS, UPLOAD_TIMEOUT, SidecarMetrics

logger = logging.getLogger(__name__)

CONCURRENCY = 4
FIRST_BACKOFF = 0.1  # seconds; doubles per failed attempt up to the configured cap
# Once shutdown starts, the little time left is better spent retrying than sleeping.
SHUTDOWN_BACKOFF = 1.0


def backoff_delay(attempt: int, cap: float, first: float = FIRST_BACKOFF) -> float:
    """Exponential back-off with full jitter: uniform in [0, min(cap, first * 2**attempt)]."""
    return random.uniform(0.0, min(cap, first * 2.0 ** min(attempt, 32)))


class Uploader:
    """Delivers submitted files forever while running, at most `concurrency` at a time."""

    def __init__(
        self,
        sink: Sink,
        spool: Spool,
        metrics: SidecarMetrics,
        max_backoff: float,
        attempt_timeout: float = 120.0,
        concurrency: int = CONCURRENCY,
        first_backoff: float = FIRST_BACKOFF,
    ) -> None:
        self.sink = sink
        self.spool = spool
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.attempt_timeout = attempt_timeout
        self.concurrency = concurrency
        self.first_backoff = first_backoff
        self._files: asyncio.Queue[SealedFile] = asyncio.Queue()
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._workers: list[asyncio.Task[None]] = []
        self._hurry = asyncio.Event()

    @property
    def outstanding(self) -> int:
        """Files submitted and not yet delivered."""
        return self._outstanding

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"infertap-upload-{n}")
            for n in range(self.concurrency)
        ]

    def submit(self, sealed: SealedFile) -> None:
        self._outstanding += 1
        self._idle.clear()
        self._files.put_nowait(sealed)

    def hurry(self) -> None:
        """Shutdown began: wake files waiting out a back-off and retry at short intervals."""
        self._hurry.set()

    async def wait_idle(self, seconds: float) -> bool:
        """Wait until every submitted file is delivered (True) or `seconds` pass."""
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Cancel the workers; a file being sent stays in the spool for the next start."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def _work(self) -> None:
        while True:
            sealed = await self._files.get()
            try:
                await self._deliver(sealed)
            finally:
                self._outstanding -= 1
                if self._outstanding == 0:
                    self._idle.set()

    async def _deliver(self, sealed: SealedFile) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            started = loop.time()
            failure = await self._attempt(sealed)
            if failure is None:
                self.metrics.uploads.labels(UPLOAD_SUCCESS).inc()
                self.metrics.upload_duration.observe(loop.time() - started)
                await self._remove(sealed)
                return
            self.metrics.uploads.labels(failure.outcome).inc()
            if not await asyncio.to_thread(sealed.path.exists):
                self._forget(sealed)
                return
            cap = self.max_backoff
            if self._hurry.is_set():
                cap = min(cap, SHUTDOWN_BACKOFF)
            delay = backoff_delay(attempt, cap, self.first_backoff)
            logger.warning(
                "capture file upload failed",
                extra={
                    "destination": self.sink.describe(sealed.key),
                    "bytes": sealed.size,
                    "attempt": attempt + 1,
                    "outcome": failure.outcome,
                    "retry_in_seconds": round(delay, 3),
                    "error": str(failure)[:500],
                },
            )
            attempt += 1
            await self._sleep(delay)

    async def _attempt(self, sealed: SealedFile) -> SinkError | None:
        """One delivery attempt: the failure, or None once the store has confirmed the file.

        The failure returned holds no traceback: nothing of the attempt (its buffers, its
        connection) stays referenced while the back-off runs.
        """
        try:
            # A store that accepts the connection and never answers must not hold an upload
            # slot forever: the S3 client's read timeout does not cover every stall.
            async with asyncio.timeout(self.attempt_timeout):
                await self.sink.put(sealed.key, sealed.path)
        except TimeoutError:
            return SinkError(
                f"no answer within --upload-timeout ({self.attempt_timeout:g}s)", UPLOAD_TIMEOUT
            )
        except SinkError as exc:
            return exc.with_traceback(None)
        except Exception as exc:  # a bug in a sink must not stop delivery either
            logger.exception(
                "capture file upload raised an unexpected error",
                extra={"destination": self.sink.describe(sealed.key)},
            )
            return SinkError(f"{type(exc).__name__}: {exc}", UPLOAD_ERROR)
        return None

    async def _sleep(self, seconds: float) -> None:
        """Wait out a back-off; when shutdown begins meanwhile, retry at once."""
        if self._hurry.is_set():
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._hurry.wait()

    async def _remove(self, sealed: SealedFile) -> None:
        try:
            await asyncio.to_thread(self.spool.delete, sealed)
        except OSError as exc:
            # Delivered, but still on disk: the next start sends it again under the same key.
            logger.error(
                "delivered capture file could not be removed from the spool",
                extra={"file": str(sealed.path), "error": str(exc)},
            )
        publish_spool_gauges(self.metrics, self.spool)

    def _forget(self, sealed: SealedFile) -> None:
        logger.error(
            "spool file vanished before delivery; its records are lost",
            extra={"file": str(sealed.path), "bytes": sealed.size},
        )
        self.spool.forget(sealed)
        publish_spool_gauges(self.metrics, self.spool)
