"""Which headers belong to one hop only (RFC 9110 section 7.6.1) and are never forwarded."""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

# RFC 9110 section 7.6.1, plus Proxy-* (meant for this hop) and Expect, which the server side
# already answered (aiohttp sends 100 Continue when the body is read).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-authentication-info",
        "expect",
        "host",
    }
)


def connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> frozenset[str]:
    """Header names listed in Connection: hop-by-hop too (RFC 9110 section 7.6.1)."""
    values = headers.getall("Connection", ())
    return frozenset(t.strip().lower() for v in values for t in v.split(",") if t.strip())


def end_to_end(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """A copy of `headers` without hop-by-hop ones; names and values unchanged, order kept."""
    extra = connection_tokens(headers) if "Connection" in headers else frozenset()
    result: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower.startswith("proxy-") or lower in extra:
            continue
        result.add(name, value)
    return result


def upstream_headers(request: web.BaseRequest) -> CIMultiDict[str]:
    """The headers to send upstream: end to end ones, with X-Forwarded-For/-Proto/-Host."""
    headers = end_to_end(request.headers)
    remote = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{forwarded}, {remote}" if forwarded else remote
    if "X-Forwarded-Proto" not in headers:
        headers["X-Forwarded-Proto"] = request.scheme
    host = request.headers.get("Host")
    if host and "X-Forwarded-Host" not in headers:
        headers["X-Forwarded-Host"] = host
    return headers
