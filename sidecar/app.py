"""Wiring: the traffic app (proxy + capture + delivery), the admin app, and serving them.

Every resource has one `cleanup_ctx` generator (start it, `yield`, close it). Graceful shutdown
is the runner's: on SIGTERM the traffic site stops accepting, in-flight requests finish within
`--shutdown-grace`, then the delivery context seals and uploads until the same deadline.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sidecar.capture.capturer import Capturer, record_encoder
from sidecar.capture.policy import CapturePolicy
from sidecar.capture.queue import CaptureQueue
from sidecar.capture.sampling import Sampler
from sidecar.delivery.service import Delivery
from sidecar.metrics import SidecarMetrics
from sidecar.proxy.aiohttp_internals import AppServerRunner
from sidecar.proxy.fast_lane import FastLane
from sidecar.proxy.handler import Proxy
from sidecar.proxy.traffic_server import ClientLimits, TrafficServer, quiet_server_logs
from sidecar.proxy.upstream_client import MAX_HEADER_BYTES, client_session
from sidecar.proxy.upstream_pool import UpstreamPool
from sidecar.settings import Settings

log = logging.getLogger("sidecar.app")

WORKER_DIR_PREFIX = "worker-"
PROXY_KEY = web.AppKey("proxy", Proxy)
LIMITS_KEY = web.AppKey("client_limits", ClientLimits)
METRICS_KEY = web.AppKey("metrics", SidecarMetrics)


@dataclass
class Lifecycle:
    """Serving state shared by the traffic app, the admin app and the signal handler."""

    serving: bool = False
    draining: bool = False
    # Event-loop time by which delivery must have finished; set when shutdown starts.
    deadline: float | None = None


def worker_spool_dir(spool_dir: Path, index: int) -> Path:
    return spool_dir / f"{WORKER_DIR_PREFIX}{index}"


def orphan_spool_dirs(spool_dir: Path, workers: int) -> list[Path]:
    """Spool folders no current worker owns: `worker-<i>` with i >= workers (and, with several
    workers, files a single-process run left in `spool_dir` itself)."""
    found: list[Path] = []
    if not spool_dir.is_dir():
        return found
    leftovers_at_top = False
    for child in sorted(spool_dir.iterdir()):
        suffix = child.name.removeprefix(WORKER_DIR_PREFIX)
        if child.name == suffix or not suffix.isdigit() or not child.is_dir():
            leftovers_at_top = True
        elif workers == 1 or int(suffix) >= workers:
            found.append(child)
    if workers > 1 and leftovers_at_top:
        found.insert(0, spool_dir)
    return found


def build_traffic_app(
    settings: Settings,
    metrics: SidecarMetrics,
    lifecycle: Lifecycle,
    *,
    spool_dir: Path,
    recover_dirs: Sequence[Path] = (),
) -> web.Application:
    queue = CaptureQueue(settings.queue_max_bytes)
    sampler = Sampler(
        settings.sampling_percentage, settings.capture_methods, settings.capture_paths
    )
    policy = CapturePolicy(settings, sampler, metrics.capture_outcomes)
    capturer = Capturer(queue, metrics.capture_outcomes)
    proxy = Proxy(settings, policy, capturer, metrics)
    # The app only owns the resources (cleanup contexts); `start_traffic_site` serves `proxy`
    # for every request without the router.
    app = web.Application()
    app[PROXY_KEY] = proxy
    app[LIMITS_KEY] = ClientLimits(settings.client_header_timeout, settings.max_connections)
    app[METRICS_KEY] = metrics
    quiet_server_logs()

    async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
        encoder = record_encoder(settings)
        delivery = Delivery(settings, queue, metrics, spool_dir, recover_dirs, encoder=encoder)
        await delivery.start()
        refresher = None
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            refresher = asyncio.create_task(_publish_queue_gauge(queue, metrics))
        yield
        if refresher is not None:
            refresher.cancel()
        loop = asyncio.get_running_loop()
        deadline = lifecycle.deadline or loop.time() + settings.shutdown_grace
        await delivery.stop(deadline)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        proxy.session = client_session(settings)
        if UpstreamPool.serves(settings.upstream):
            proxy.pool = UpstreamPool(
                settings.upstream, settings.upstream_connect_timeout, settings.upstream_timeout
            )
        yield
        if proxy.pool is not None:
            await proxy.pool.close()
        await proxy.session.close()

    # Cleanup runs in reverse: the session closes first, then delivery drains what was captured.
    app.cleanup_ctx.append(delivery_ctx)
    app.cleanup_ctx.append(session_ctx)
    return app


async def _publish_queue_gauge(queue: CaptureQueue, metrics: SidecarMetrics) -> None:
    # Multiprocess mode only reads values that were set; a scrape-time function is not seen.
    while True:
        metrics.capture_queue_bytes.set(queue.size_bytes)
        await asyncio.sleep(1.0)


def build_admin_app(
    settings: Settings, lifecycle: Lifecycle, exposition: Callable[[], bytes]
) -> web.Application:
    """/metrics, /healthz (alive) and /readyz (serving, and the upstream health path is 2xx)."""
    app = web.Application()
    quiet_server_logs()
    health_url = settings.upstream + settings.upstream_health_path
    session_key = web.AppKey("health_session", aiohttp.ClientSession)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=min(settings.upstream_timeout, 5.0))
        app[session_key] = aiohttp.ClientSession(
            timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        )
        yield
        await app[session_key].close()

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(request: web.Request) -> web.Response:
        return _json(200, {"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        if lifecycle.draining:
            return _json(503, {"status": "not_ready", "reason": "shutting down"})
        if not lifecycle.serving:
            return _json(503, {"status": "not_ready", "reason": "starting"})
        try:
            async with request.app[session_key].get(health_url) as response:
                await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = f"upstream health check failed: {type(exc).__name__}: {exc}"
            return _json(503, {"status": "not_ready", "reason": reason})
        if not 200 <= status < 300:
            reason = f"upstream {settings.upstream_health_path} answered {status}"
            return _json(503, {"status": "not_ready", "reason": reason})
        return _json(200, {"status": "ready"})

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def _json(status: int, body: dict[str, str]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _runner_args(shutdown_timeout: float) -> dict[str, Any]:
    return {
        "access_log": None,
        "shutdown_timeout": shutdown_timeout,
        "max_line_size": MAX_HEADER_BYTES,
        "max_field_size": MAX_HEADER_BYTES,
    }


async def _start(runner: web.BaseRunner, host: str, port: int, reuse_port: bool) -> None:
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=2048)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float = 5.0,
    reuse_port: bool = False,
) -> web.AppRunner:
    runner = web.AppRunner(app, **_runner_args(shutdown_timeout))
    await _start(runner, host, port, reuse_port)
    return runner


async def start_traffic_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float = 5.0,
    reuse_port: bool = False,
    fast_lane: bool = True,
) -> AppServerRunner:
    """Serve a `build_traffic_app` app with aiohttp's low-level server (TrafficServer: client
    limits, quiet answers to malformed requests) and the fast lane (proxy/fast_lane.py; off,
    every request goes to the handler task); stopping the runner drains it (see `drain`).

    A client that goes away cancels its handler, which closes the upstream request: a model
    server stops generating for nobody (DESIGN.md section 10); the proxy still records a stream.
    """

    # Request bodies are forwarded as they came: a gzip body stays gzip (aiohttp's server would
    # otherwise inflate it under its unchanged Content-Encoding header).
    def make_server(**options: Any) -> TrafficServer:
        # One handler for every request (`app[PROXY_KEY]`): no router or middleware per request.
        limits, metrics = app[LIMITS_KEY], app[METRICS_KEY]
        proxy = app[PROXY_KEY]
        lane = FastLane(proxy) if fast_lane else None
        return TrafficServer(proxy, lane=lane, limits=limits, metrics=metrics, **options)

    runner = AppServerRunner(
        app,
        make_server,
        auto_decompress=False,
        handler_cancellation=True,
        **_runner_args(shutdown_timeout),
    )
    await _start(runner, host, port, reuse_port)
    return runner


# Young-generation collections every this many net allocations instead of Python's 700: a
# request allocates dozens of containers that reference counting frees anyway, so at 700 the
# collector ran every few requests; cyclic garbage waits at most this many objects longer.
GC_YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Once serving: what start-up built lives as long as the process, so it is moved out of
    the collector's generations (gc.freeze); each collection then scans only what requests
    allocate, not the modules, the app and the metrics again and again."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def stop_event(
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> asyncio.Event:
    """An event set by SIGTERM/SIGINT; the caller then lets the runners shut down."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, event.set)
    return event


async def drain(runner: web.BaseRunner, lifecycle: Lifecycle, grace: float) -> None:
    """Stop accepting, let in-flight requests finish, then let delivery finish by the deadline."""
    lifecycle.draining = True
    lifecycle.deadline = asyncio.get_running_loop().time() + grace
    log.info("shutting down", extra={"fields": {"grace_seconds": grace}})
    await runner.cleanup()


async def serve(settings: Settings) -> None:
    """One process: the traffic port and the admin port, until SIGTERM or SIGINT."""
    stop = stop_event()
    metrics = SidecarMetrics()
    lifecycle = Lifecycle()
    traffic = build_traffic_app(
        settings,
        metrics,
        lifecycle,
        spool_dir=settings.spool_dir,
        recover_dirs=orphan_spool_dirs(settings.spool_dir, 1),
    )
    admin = build_admin_app(settings, lifecycle, lambda: generate_latest(metrics.registry))
    admin_runner = await start_site(admin, settings.admin_host, settings.admin_port)
    try:
        traffic_runner = await start_traffic_site(
            traffic,
            settings.listen_host,
            settings.listen_port,
            shutdown_timeout=settings.shutdown_grace,
        )
        lifecycle.serving = True
        settle_heap()
        log.info("serving", extra={"fields": _addresses(settings)})
        await stop.wait()
        await drain(traffic_runner, lifecycle, settings.shutdown_grace)
    finally:
        await admin_runner.cleanup()
    log.info("stopped")


async def serve_worker(settings: Settings, index: int, ready: Callable[[], None]) -> None:
    """One of several processes sharing the traffic port (SO_REUSEPORT); no admin port."""
    stop = stop_event()
    metrics = SidecarMetrics()
    lifecycle = Lifecycle()
    parent = os.getppid()
    traffic = build_traffic_app(
        settings,
        metrics,
        lifecycle,
        spool_dir=worker_spool_dir(settings.spool_dir, index),
        recover_dirs=orphan_spool_dirs(settings.spool_dir, settings.workers) if index == 0 else (),
    )
    runner = await start_traffic_site(
        traffic,
        settings.listen_host,
        settings.listen_port,
        shutdown_timeout=settings.shutdown_grace,
        reuse_port=True,
    )
    lifecycle.serving = True
    settle_heap()
    ready()
    log.info("worker serving", extra={"fields": {"worker": index, **_addresses(settings)}})
    # A worker whose supervisor died (killed, not terminated) must not linger holding the port.
    while not stop.is_set() and os.getppid() == parent:
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            continue
    await drain(runner, lifecycle, settings.shutdown_grace)
    log.info("worker stopped", extra={"fields": {"worker": index}})


def _addresses(settings: Settings) -> dict[str, object]:
    return {
        "listen": f"{settings.listen_host}:{settings.listen_port}",
        "admin_listen": f"{settings.admin_host}:{settings.admin_port}",
    }


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine factory on uvloop when available, else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
