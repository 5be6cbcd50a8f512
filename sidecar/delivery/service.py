"""Durable delivery of captured records: queue -> spool files -> S3 or a local folder.

The one object the app starts and stops (from an aiohttp `cleanup_ctx`); it owns the spool
writer, the uploader and the sink. Nothing is lost silently: each record is delivered, on disk
in the spool, or counted in `infertap_capture_records_total` with a drop reason (`shutdown`
here, for records offered after the writer's final drain).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from sidecar.capture.queue import CaptureQueue
from sidecar.common.record import RecordEncoder
from sidecar.delivery.sinks import make_sink
from sidecar.delivery.spool import Spool, publish_spool_gauges
from sidecar.delivery.uploader import Uploader
from sidecar.delivery.writer import Writer, WriterLimits
from sidecar.metrics import DROP_SHUTDOWN, SidecarMetrics
from sidecar.settings import Settings

logger = logging.getLogger(__name__)


class Delivery:
    """Drains `queue` into spool files below `spool_dir` and delivers them to the destination.

    `recover_dirs`: other spool folders (of processes no longer running) whose files this one
    takes over at start. Each spool folder is locked by the process using it. `encoder` turns
    queued exchanges into record lines.
    """

    def __init__(
        self,
        settings: Settings,
        queue: CaptureQueue,
        metrics: SidecarMetrics,
        spool_dir: Path,
        recover_dirs: Sequence[Path] = (),
        *,
        encoder: RecordEncoder,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.metrics = metrics
        self.recover_dirs = tuple(recover_dirs)
        self.spool = Spool(spool_dir, settings.endpoint_name, settings.variant_name)
        self.sink = make_sink(settings.destination, settings.kms_key_id)
        self.uploader = Uploader(
            self.sink, self.spool, metrics, settings.upload_max_backoff, settings.upload_timeout
        )
        limits = WriterLimits(
            max_file_bytes=settings.max_file_bytes,
            flush_interval=settings.flush_interval,
            spool_max_bytes=settings.spool_max_bytes,
        )
        self.writer = Writer(self.spool, queue, metrics, limits, self.uploader.submit, encoder)
        self._writer_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Lock the spool, queue leftovers of a previous run for upload, start the tasks."""
        await asyncio.to_thread(self.spool.acquire)
        try:
            await self.sink.open()
            leftovers = await asyncio.to_thread(self.spool.recover, self.recover_dirs)
        except BaseException:
            await self.sink.close()
            self.spool.release()
            raise
        for sealed in leftovers:
            self.uploader.submit(sealed)
        publish_spool_gauges(self.metrics, self.spool)
        self.uploader.start()
        self._writer_task = asyncio.create_task(self.writer.run(), name="infertap-spool-writer")

    async def stop(self, deadline: float) -> None:
        """Write and seal everything queued, upload until `deadline` (event-loop time).

        Files not delivered by then stay in the spool and go out on the next start.
        """
        if self._writer_task is None:
            return
        self.uploader.hurry()
        self.writer.request_stop()
        try:
            await self._writer_task
        except Exception:
            # Still deliver what was sealed; unsealed files stay in open/ for the next start.
            logger.exception("spool writer failed while draining")
        self._writer_task = None
        # Offered after the final drain; the request path is closed by now.
        late = len(self.queue.take())
        if late:
            self.metrics.capture_outcomes.count(DROP_SHUTDOWN, late)
            logger.warning("capture records dropped at shutdown", extra={"records": late})
        remaining = deadline - asyncio.get_running_loop().time()
        delivered = await self.uploader.wait_idle(remaining)
        await self.uploader.stop()
        await self.sink.close()
        self.spool.release()
        if not delivered:
            logger.warning(
                "shutdown deadline reached: capture files left in the spool for the next start",
                extra={"folder": str(self.spool.root), "files": self.spool.file_count},
            )
