"""The watcher's HTTP server: `/metrics`, `/healthz`, `/readyz` and `/live/{endpoint}/{variant}`.

A thread of its own, so a slow step never delays a scrape. The live page reads the endpoint's
last evaluation (replaced whole by the loop, never changed in place).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import unquote

from prometheus_client import CollectorRegistry

from analyzer.live.endpoint import EndpointWatch
from analyzer.live.page import LivePages
from analyzer.scheduling.metrics_server import TEXT, MetricsHandler, MetricsHTTPServer, ServerThread

log = logging.getLogger("infertap.analyzer.watch")


class _Server(MetricsHTTPServer):
    watches: Mapping[tuple[str, str], EndpointWatch]
    pages: LivePages


class _Handler(MetricsHandler):
    server: _Server
    not_found = b"not found; try /metrics or /live/ENDPOINT/VARIANT\n"

    def route(self, path: str) -> bool:
        if not path.startswith("/live/"):
            return False
        self._live(path)
        return True

    def _live(self, path: str) -> None:
        parts = [unquote(p) for p in path.split("/")[2:] if p]
        watch = self.server.watches.get((parts[0], parts[1])) if len(parts) == 2 else None
        if watch is None:
            known = ", ".join(f"/live/{e}/{v}" for e, v in self.server.watches) or "none"
            self.reply(404, f"no such endpoint variant; watched: {known}\n".encode(), TEXT)
            return
        evaluation = watch.last
        if evaluation is None:
            self.reply(503, b"no window evaluated yet; try again after the first step\n", TEXT)
            return
        try:
            html = self.server.pages.page(
                watch.endpoint, watch.baseline, evaluation, watch.settings.window
            )
        except Exception as exc:  # a page must never take the server down: say what failed
            log.exception("live page failed", extra={"endpoint": watch.endpoint.label})
            self.reply(500, f"the live page failed: {exc}\n".encode(), TEXT)
            return
        self.reply(200, html.encode("utf-8"), "text/html; charset=utf-8")


class LiveServer(ServerThread):
    """Serve the registry and the live pages on host:port (port 0 picks a free one)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        watches: Mapping[tuple[str, str], EndpointWatch],
        host: str,
        port: int,
    ) -> None:
        server = _Server((host, port), _Handler)
        server.registry = registry
        server.watches = watches
        server.pages = LivePages()
        super().__init__(server, "live-http")
