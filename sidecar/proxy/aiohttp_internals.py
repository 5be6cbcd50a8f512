"""Every use of aiohttp's private internals, in one module, checked against one aiohttp release.

The proxy leans on parts of aiohttp that are not its public API: the traffic server reads its
connection protocol's request queue to time request heads (traffic_server.py), and the lean
upstream client drives aiohttp's client response protocol (C parser, read timeout, flow control)
without ClientSession (upstream_pool.py). Nothing else in the sidecar names a private aiohttp
attribute or module. Importing this module checks the installed aiohttp against the releases
these internals were read from, and that each one is still there: a new release breaks this file
at start-up, loudly, rather than a request at random. tests/sidecar/proxy/test_aiohttp_internals.py
holds one test per internal; a new one goes here with its test (and its name in `INTERNALS`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_parser import RawResponseMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from sidecar.errors import SidecarError

# The aiohttp releases (major, minor) whose internals this module was written against.
SUPPORTED_RELEASES = ((3, 14),)
# (class, attribute) for every private name used below, checked at import.
INTERNALS: tuple[tuple[type, str], ...] = (
    (RequestHandler, "_manager"),
    (RequestHandler, "_messages"),
    (RequestHandler, "_request_in_progress"),
    (ResponseHandler, "set_response_params"),
    (ResponseHandler, "start_timeout"),
    (ResponseHandler, "read"),
    (ResponseHandler, "should_close"),
    (ResponseHandler, "is_connected"),
    (ResponseHandler, "close"),
    (ResponseHandler, "transport"),
    (web.BaseRunner, "_make_server"),
    (web.BaseRunner, "_cleanup_server"),
)
# Instance attributes set by __init__ (no slots to look them up in): Server's `_loop` and
# `_kwargs`, BaseRunner's `_kwargs`; their tests make instances.

__all__ = [
    "AppServerRunner",
    "ResponseHandler",
    "StreamReader",
    "close_connection",
    "connected",
    "detach_from_server",
    "last_request_body",
    "new_response_protocol",
    "next_response",
    "protocol_arguments",
    "read_response_head",
    "request_in_progress",
    "requests_queued",
    "reusable",
    "start_read_timeout",
    "transport_of",
]


class UnsupportedAiohttp(SidecarError, ImportError):
    """The installed aiohttp is not a release whose internals the proxy was written against."""


def _release(version: str) -> tuple[int, int]:
    major, minor, *_ = (int(part) if part.isdigit() else -1 for part in version.split("."))
    return major, minor


def _has(owner: type, name: str) -> bool:
    slots = (slot for klass in owner.__mro__ for slot in getattr(klass, "__slots__", ()))
    return hasattr(owner, name) or name in set(slots)


def check_release(version: str = aiohttp.__version__) -> None:
    """Raise UnsupportedAiohttp unless `version` is a supported release with every internal."""
    if _release(version) not in SUPPORTED_RELEASES:
        supported = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED_RELEASES)
        raise UnsupportedAiohttp(
            f"aiohttp {version} is installed; the sidecar's proxy relies on internals of aiohttp "
            f"{supported} (sidecar/proxy/aiohttp_internals.py): install a supported release"
        )
    missing = [f"{owner.__name__}.{name}" for owner, name in INTERNALS if not _has(owner, name)]
    if missing:
        raise UnsupportedAiohttp(f"aiohttp {version} lacks {', '.join(missing)}")


check_release()


# -- the server side: aiohttp's per-connection RequestHandler ------------------------------


def protocol_arguments(server: Server) -> dict[str, Any]:
    """What `Server.__call__` passes a new connection's RequestHandler besides the server: its
    loop and the handler options given to the server (timeouts, limits, access log)."""
    return {"loop": server._loop, **server._kwargs}


def detach_from_server(protocol: RequestHandler) -> None:
    """A connection refused before it is registered: its `connection_lost` then has no server
    to report to."""
    protocol._manager = None


def requests_queued(protocol: RequestHandler) -> int:
    """Requests parsed on this connection and not yet handed to the handler task."""
    return len(protocol._messages)


def last_request_body(protocol: RequestHandler) -> StreamReader | None:
    """The body stream of the last request parsed and queued, None when the queue is empty."""
    messages = protocol._messages
    return messages[-1][1] if messages else None


def request_in_progress(protocol: RequestHandler) -> bool:
    """Whether the handler is working on a request of this connection."""
    return bool(protocol._request_in_progress)


# -- the client side: aiohttp's ResponseHandler without ClientSession ----------------------


def new_response_protocol(
    loop: asyncio.AbstractEventLoop,
) -> ResponseHandler:
    """A client connection protocol for `loop.create_connection`."""
    return ResponseHandler(loop)


def read_response_head(
    protocol: ResponseHandler,
    *,
    head_only: bool,
    read_timeout: float,
    read_bufsize: int,
    max_field_size: int,
) -> None:
    """Make `protocol` parse the next response (no decompression, body read to the connection's
    end when unsized) and start its read timeout; await `next_response` for it."""
    protocol.set_response_params(
        skip_payload=head_only,
        read_until_eof=True,
        auto_decompress=False,
        read_timeout=read_timeout,
        read_bufsize=read_bufsize,
        max_line_size=max_field_size,
        max_field_size=max_field_size,
    )


def start_read_timeout(protocol: ResponseHandler) -> None:
    """Start the read timeout once the request is written."""
    protocol.start_timeout()


async def next_response(protocol: ResponseHandler) -> tuple[RawResponseMessage, StreamReader]:
    """The next response head parsed on `protocol` and its body stream."""
    message, payload = await protocol.read()
    return message, payload


def reusable(protocol: ResponseHandler) -> bool:
    """Whether the connection can carry another request (open, and no `Connection: close`)."""
    return protocol.is_connected() and not protocol.should_close


def connected(protocol: ResponseHandler) -> bool:
    return protocol.is_connected()


def close_connection(protocol: ResponseHandler) -> None:
    protocol.close()


def transport_of(protocol: ResponseHandler) -> asyncio.Transport | None:
    return protocol.transport


# -- the runner: an application's resources around a low-level server ----------------------


class AppServerRunner(web.BaseRunner):
    """Serves the low-level server `make_server(**server options)` returns, while `app` only
    owns the resources: started (cleanup contexts) before the server is made, cleaned up after
    it stops. aiohttp's runners offer this only through their private hooks."""

    def __init__(
        self, app: web.Application, make_server: Callable[..., Server], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._app = app
        self._server_factory = make_server

    async def shutdown(self) -> None:
        await self._app.shutdown()

    async def _make_server(self) -> Server:
        self._app.freeze()
        await self._app.startup()
        return self._server_factory(**self._kwargs)

    async def _cleanup_server(self) -> None:
        await self._app.cleanup()
