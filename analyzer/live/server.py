"""The watcher's HTTP server: `/metrics`, `/healthz`, `/readyz` and `/live/{endpoint}/{variant}`.

A thread of its own, so a slow step never delays a scrape. The live page reads the endpoint's
last evaluation (replaced whole by the loop, never changed in place).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from analyzer.live.endpoint import EndpointWatch
from analyzer.live.page import LivePages

log = logging.getLogger("infertap.analyzer.watch")
_TEXT = "text/plain; charset=utf-8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry
    watches: Mapping[tuple[str, str], EndpointWatch]
    pages: LivePages


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._reply(200, encoder(self.server.registry), content_type)
        elif path in ("/healthz", "/readyz"):
            self._reply(200, b"ok\n", _TEXT)
        elif path.startswith("/live/"):
            self._live(path)
        else:
            self._reply(404, b"not found; try /metrics or /live/ENDPOINT/VARIANT\n", _TEXT)

    def _live(self, path: str) -> None:
        parts = [unquote(p) for p in path.split("/")[2:] if p]
        watch = self.server.watches.get((parts[0], parts[1])) if len(parts) == 2 else None
        if watch is None:
            known = ", ".join(f"/live/{e}/{v}" for e, v in self.server.watches) or "none"
            self._reply(404, f"no such endpoint variant; watched: {known}\n".encode(), _TEXT)
            return
        evaluation = watch.last
        if evaluation is None:
            self._reply(503, b"no window evaluated yet; try again after the first step\n", _TEXT)
            return
        try:
            html = self.server.pages.page(
                watch.endpoint, watch.baseline, evaluation, watch.settings.window
            )
        except Exception as exc:  # a page must never take the server down: say what failed
            log.exception("live page failed", extra={"endpoint": watch.endpoint.label})
            self._reply(500, f"the live page failed: {exc}\n".encode(), _TEXT)
            return
        self._reply(200, html.encode("utf-8"), "text/html; charset=utf-8")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the logs: no access log."""


class LiveServer:
    """Serve the registry and the live pages on host:port (port 0 picks a free one)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        watches: Mapping[tuple[str, str], EndpointWatch],
        host: str,
        port: int,
    ) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.registry = registry
        self._server.watches = watches
        self._server.pages = LivePages()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="live-http", daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
