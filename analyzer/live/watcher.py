"""The live loop: poll every endpoint, evaluate at each step's end, write the hours that closed.

One asyncio loop lists and reads (S3 through one aiobotocore client shared by every endpoint,
local folders in threads) and profiles on its own thread; hour reports run in a worker thread.
SIGTERM or SIGINT ends it after the current pass. There is no state file: on start, each
endpoint's followed folders (the window's, and with an output the open hours') are read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from analyzer.errors import AnalyzerError, ConfigError
from analyzer.live.endpoint import EndpointWatch
from analyzer.live.hours import report_hour
from analyzer.live.metrics import LiveMetrics
from analyzer.live.server import LiveServer
from analyzer.live.settings import LiveSettings, load_live_baseline
from analyzer.live.timeline import step_start
from analyzer.reading import storage
from analyzer.scheduling.config import EndpointConfig

log = logging.getLogger("infertap.analyzer.watch")
Clock = Callable[[], float]


def watch(
    endpoints: list[EndpointConfig],
    settings: LiveSettings,
    listen: tuple[str, int] | None,
    clock: Clock = time.time,
) -> int:
    """Watch until SIGTERM/SIGINT; 0 then. ConfigError when there is nothing to watch."""
    if not endpoints:
        raise ConfigError("no endpoint to watch in this shard; check --config and --shard")
    metrics = LiveMetrics()
    started = clock()
    watches = {}
    for endpoint in endpoints:
        baseline = load_live_baseline(endpoint, settings)
        watches[(endpoint.name, endpoint.variant)] = EndpointWatch(
            endpoint, settings, metrics, baseline, started
        )
    server = LiveServer(metrics.registry, watches, *listen) if listen else None
    if server is not None:
        server.start()
    log.info(
        "watching",
        extra={"endpoints": len(watches), "window": settings.window, "step": settings.step},
    )
    try:
        asyncio.run(_loop(list(watches.values()), settings, clock))
    finally:
        if server is not None:
            server.stop()
    return 0


async def _loop(watches: list[EndpointWatch], settings: LiveSettings, clock: Clock) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    step = settings.step
    evaluated = 0
    async with _client(watches) as client:
        while not stop.is_set():
            now = clock()
            await asyncio.gather(*(w.poll(now, client) for w in watches))
            end = step_start(now, step)
            if end > evaluated:
                for w in watches:
                    _evaluate(w, end)
                evaluated = end
            for w in watches:
                await _report_hours(w, now)
            wake = min(now + settings.poll_interval, end + step)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.05, wake - clock()))
    log.info("watch stopped")


def _evaluate(watch: EndpointWatch, end: int) -> None:
    try:
        evaluation = watch.evaluate(end)
    except Exception:  # one endpoint's bug must not stop the others
        log.exception("live evaluation failed", extra={"endpoint": watch.endpoint.label})
        watch.metrics.errors.labels(*watch.labels, "evaluation").inc()
        return
    log.info(
        "window evaluated",
        extra={
            "endpoint": watch.endpoint.label,
            "records": evaluation.records,
            "violations": len(evaluation.violations),
            "checked": evaluation.evaluated,
        },
    )


async def _report_hours(watch: EndpointWatch, now: float) -> None:
    for hour in watch.due_hours(now):
        parts = watch.buckets.hour_parts(hour)
        try:
            result = await asyncio.to_thread(report_hour, watch.endpoint, hour, parts)
        except AnalyzerError as exc:
            log.error(
                "hour report failed", extra={"endpoint": watch.endpoint.label, "error": str(exc)}
            )
            continue
        if result is not None:
            log.info(
                "hour reported",
                extra={"endpoint": watch.endpoint.label, "hour": hour, "status": result.status},
            )


@contextlib.asynccontextmanager
async def _client(watches: list[EndpointWatch]) -> AsyncIterator[Any]:
    """One S3 client for every endpoint when any captures live in S3."""
    if not any(storage.is_s3(w.endpoint.captures) for w in watches):
        yield None
        return
    async with storage.s3_client() as client:
        yield client
