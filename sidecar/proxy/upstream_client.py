"""The pooled client session the proxy forwards with: bytes untouched, no headers invented.

`VerbatimRequest` replaces two per-request steps of aiohttp's `ClientRequest` that cost a Python
loop and several dict copies each: the request keeps exactly the headers it was given.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict

from sidecar.settings import Settings

# Lenient header limits: a proxy should not refuse what the model server would accept.
MAX_HEADER_BYTES = 65536
# Headers aiohttp would add on its own; a proxy forwards only what the client sent.
NEVER_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_NEVER_ADDED: CIMultiDict[None] = CIMultiDict((name, None) for name in NEVER_ADDED)


class VerbatimRequest(aiohttp.ClientRequest):
    """A ClientRequest that sends the given headers as they are (after `Host`) and adds none."""

    def update_headers(self, headers: object) -> None:
        if not isinstance(headers, CIMultiDict) or hdrs.HOST in headers:
            super().update_headers(headers)  # type: ignore[arg-type]
            return
        host = self.url.host_port_subcomponent
        assert host is not None, "upstream URLs are absolute"
        # One C-level extend instead of aiohttp's per-header loop; Host first, as aiohttp does.
        result: CIMultiDict[str] = CIMultiDict(((hdrs.HOST, host),))
        result.extend(headers)
        self.headers = result

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        # aiohttp builds a sorted skip list and copies the headers on every request to decide
        # what to add; the answer is always "nothing", and body payloads must not add a
        # Content-Type either (checked against `_skip_auto_headers` later).
        self._skip_auto_headers = _NEVER_ADDED


def client_session(settings: Settings) -> aiohttp.ClientSession:
    """The pooled upstream session: bytes untouched, no cookies kept, no headers invented."""
    timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=settings.upstream_connect_timeout,
        # Silence limit, waiting for the response and between chunks of a stream, so long
        # streamed answers are not cut while they keep flowing.
        sock_read=settings.upstream_timeout,
    )
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=10),
        timeout=timeout,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=NEVER_ADDED,
        request_class=VerbatimRequest,
        trust_env=False,
        max_line_size=MAX_HEADER_BYTES,
        max_field_size=MAX_HEADER_BYTES,
    )
