"""A small threaded HTTP server for the scheduler: `/metrics`, `/healthz` and `/readyz`.

It runs in its own thread, so a long monitoring run never delays a scrape. The watcher's live
server builds on the same handler and thread, adding its own routes.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

TEXT = "text/plain; charset=utf-8"


class MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry


class MetricsHandler(BaseHTTPRequestHandler):
    """Serve `/metrics` and the probes; subclasses add paths through `route`."""

    server: MetricsHTTPServer
    protocol_version = "HTTP/1.1"
    not_found = b"not found; try /metrics\n"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self.reply(200, encoder(self.server.registry), content_type)
        elif path in ("/healthz", "/readyz"):
            self.reply(200, b"ok\n", TEXT)
        elif not self.route(path):
            self.reply(404, self.not_found, TEXT)

    def route(self, path: str) -> bool:
        """Answer a path beyond `/metrics` and the probes; False when there is none."""
        return False

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the logs: no access log."""


class ServerThread:
    """Run an HTTP server in a daemon thread of its own (port 0 picks a free one; see `port`)."""

    def __init__(self, server: ThreadingHTTPServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

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


class MetricsServer(ServerThread):
    """Serve `registry` on host:port (port 0 picks a free one; see `port`)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        server = MetricsHTTPServer((host, port), MetricsHandler)
        server.registry = registry
        super().__init__(server, "metrics-http")
