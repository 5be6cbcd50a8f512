"""Upstream failures as the client and the metrics see them: HTTP status, error code, reason.

The reason is the `infertap_upstream_errors_total{reason}` label value, from a bounded set.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import aiohttp

from sidecar.proxy.upstream_pool import UpstreamConnectError, UpstreamProtocolError


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """How an upstream failure is reported: status, error code and metric reason."""

    status: int
    error: str
    reason: str


def classify_failure(exc: BaseException) -> UpstreamFailure:
    """What to tell the client and the metrics about an exception from either upstream client
    (the lean pool or aiohttp's ClientSession)."""
    if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamFailure(504, "upstream_timeout", "timeout")
    if isinstance(exc, UpstreamConnectError):
        if exc.dns:
            return UpstreamFailure(502, "upstream_unavailable", "dns")
        refused = exc.os_error.errno == errno.ECONNREFUSED
        return UpstreamFailure(502, "upstream_unavailable", "refused" if refused else "connect")
    if isinstance(exc, UpstreamProtocolError):
        return UpstreamFailure(502, "upstream_bad_response", "bad_response")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return UpstreamFailure(502, "upstream_unavailable", "dns")
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = exc.os_error.errno == errno.ECONNREFUSED
        return UpstreamFailure(502, "upstream_unavailable", "refused" if refused else "connect")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamFailure(502, "upstream_unavailable", "disconnected")
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return UpstreamFailure(502, "upstream_unavailable", "reset")
    if isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        return UpstreamFailure(502, "upstream_bad_response", "bad_response")
    return UpstreamFailure(502, "upstream_unavailable", "error")
