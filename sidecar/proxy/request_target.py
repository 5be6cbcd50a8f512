"""Where a request goes: always --upstream, with only the path and query of its target.

The proxy calls `upstream_target` only for the rare targets that are not a plain path (the
test is one comparison on the hot path). CONNECT tunnels are refused: the sidecar forwards
requests to one model server, it is not a general proxy (a tunnel target would otherwise be
joined onto the upstream URL, where `@host:port` makes the upstream's address a user name).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from yarl import URL

from sidecar.errors import SidecarError

# What the `Allow` header of a refused CONNECT lists: every method the proxy forwards.
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"


class TargetRefused(SidecarError):
    """A request the proxy answers itself: `status`, a stable `error` word and a `detail`."""

    def __init__(self, status: int, error: str, detail: str, allow: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.allow = allow


def upstream_target(method: str, raw_target: str) -> str:
    """The origin-form target (`/path?query`) to send upstream for a request whose method is
    CONNECT or whose target does not start with `/`; raises TargetRefused."""
    if method == "CONNECT":
        raise TargetRefused(
            405,
            "method_not_allowed",
            "CONNECT is not supported: the sidecar forwards requests to its upstream only",
            ALLOWED_METHODS,
        )
    if raw_target.startswith("/"):
        return raw_target
    # Absolute form (RFC 9112 section 3.2.2): the host part is ignored, the request still goes
    # to --upstream; user info and fragment are dropped with it.
    parts = urlsplit(raw_target)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path
    raise TargetRefused(
        400,
        "bad_request_target",
        "the request target must be a path such as /invocations or an absolute http URL",
    )


class UpstreamUrls:
    """Builds the upstream URL of a request from the upstream's own parts and the request's
    path and query, never by pasting strings a URL parser could read another way."""

    __slots__ = ("_authority", "_prefix", "_scheme")

    def __init__(self, upstream: str) -> None:
        base = URL(upstream)
        self._scheme = base.scheme
        self._authority = base.raw_authority
        # A base path (`http://host/prefix`) goes before every request path.
        self._prefix = base.raw_path.rstrip("/")

    def url(self, target: str) -> URL:
        """`target` is origin-form (`/path?query`), as `upstream_target` guarantees."""
        path, sep, query = target.partition("?")
        return URL.build(
            scheme=self._scheme,
            authority=self._authority,
            path=self._prefix + path,
            query_string=query if sep else "",
            encoded=True,
        )
