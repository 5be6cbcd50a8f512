"""`--workers N`: N processes share the traffic port (SO_REUSEPORT); this parent supervises them.

The parent serves the admin port with metrics aggregated over the workers (prometheus_client
multiprocess mode, files in a private temporary folder), restarts a worker that dies, and on
SIGTERM passes the signal on and waits for every worker to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest, multiprocess

from sidecar.app import Lifecycle, build_admin_app, run, serve_worker, start_site, stop_event
from sidecar.common.logs import setup_logging
from sidecar.settings import Settings

log = logging.getLogger("sidecar.supervisor")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A worker that dies before it ever served (port taken, bad spool folder) will not do better
# on a restart: the supervisor stops instead of looping.
RESTART_DELAY = 1.0
POLL_SECONDS = 0.1
# Time beyond the grace period for workers to exit before they are killed.
EXIT_MARGIN = 5.0


def _worker_main(settings: Settings, index: int, ready: Event) -> None:
    setup_logging(settings.log_level)
    run(lambda: serve_worker(settings, index, ready.set))


@dataclass
class _Worker:
    index: int
    process: SpawnProcess
    ready: Event
    served: bool = field(default=False)


class Supervisor:
    def __init__(self, settings: Settings, metrics_dir: str) -> None:
        self.settings = settings
        self.metrics_dir = metrics_dir
        self._context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def _spawn(self, index: int) -> _Worker:
        ready = self._context.Event()
        process = self._context.Process(
            target=_worker_main,
            args=(self.settings, index, ready),
            name=f"infertap-worker-{index}",
            daemon=False,
        )
        process.start()
        log.info("worker started", extra={"fields": {"worker": index, "pid": process.pid}})
        return _Worker(index, process, ready)

    def _reap(self, worker: _Worker) -> None:
        worker.process.join(timeout=0)
        if worker.process.pid is not None:
            multiprocess.mark_process_dead(worker.process.pid, self.metrics_dir)  # type: ignore[no-untyped-call]

    async def _check(self) -> bool:
        """Restart workers that died after serving; False when one never came up."""
        for slot, worker in enumerate(self.workers):
            if worker.ready.is_set():
                worker.served = True
            if worker.process.is_alive():
                continue
            self._reap(worker)
            fields = {"worker": worker.index, "exit_code": worker.process.exitcode}
            if not worker.served:
                log.error("worker failed to start", extra={"fields": fields})
                return False
            log.error("worker died; restarting it", extra={"fields": fields})
            await asyncio.sleep(RESTART_DELAY)
            self.workers[slot] = self._spawn(worker.index)
        return True

    async def _stop_workers(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        wait = self.settings.shutdown_grace + EXIT_MARGIN
        await asyncio.gather(*(asyncio.to_thread(w.process.join, wait) for w in self.workers))
        for worker in self.workers:
            if worker.process.is_alive():
                log.error("worker did not drain in time; killed", extra={"worker": worker.index})
                worker.process.kill()
                worker.process.join(timeout=5)
            self._reap(worker)

    async def run(self) -> int:
        stop = stop_event()
        lifecycle = Lifecycle()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.metrics_dir)  # type: ignore[no-untyped-call]
        admin = build_admin_app(self.settings, lifecycle, lambda: generate_latest(registry))
        runner: web.AppRunner = await start_site(
            admin, self.settings.admin_host, self.settings.admin_port
        )
        code = 0
        try:
            self.workers = [self._spawn(i) for i in range(self.settings.workers)]
            while not stop.is_set():
                if not await self._check():
                    code = 1
                    break
                lifecycle.serving = all(w.ready.is_set() for w in self.workers)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
            lifecycle.draining = True
            log.info("shutting down workers", extra={"fields": {"workers": len(self.workers)}})
            await self._stop_workers()
        finally:
            await runner.cleanup()
        log.info("stopped")
        return code


def supervise(settings: Settings) -> int:
    """Run `settings.workers` worker processes until SIGTERM; the process exit code."""
    metrics_dir = tempfile.mkdtemp(prefix="infertap-metrics-")
    # Workers are spawned (fresh interpreters), so they import prometheus_client with this set.
    os.environ[MULTIPROC_ENV] = metrics_dir
    code = 0
    try:

        async def main() -> None:
            nonlocal code
            code = await Supervisor(settings, metrics_dir).run()

        run(main)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return code
