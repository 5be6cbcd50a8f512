"""Header sections as bytes, straight from the parsers' `raw_headers` pairs: the buffered
exchange's two heads (request to the upstream, answer to the client) without the header
multidicts hop_by_hop.py builds and throws away. Same rules, same bytes: hop-by-hop names
(HOP_BY_HOP, Proxy-*) dropped, X-Forwarded-* as `upstream_headers` sets them. A head that lists
names in Connection (rare: HTTP/1.1 clients keep alive without it) is left to hop_by_hop.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE

from sidecar.proxy.hop_by_hop import HOP_BY_HOP

RawHeaders = Sequence[tuple[bytes, bytes]]

_HOP = frozenset(name.encode() for name in HOP_BY_HOP)
# What aiohttp's header writer refuses (a control character other than tab), in bytes.
_FORBIDDEN = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
SERVER_LINE = b"Server: " + SERVER_SOFTWARE.encode() + b"\r\n"


class NamesInConnection(Exception):
    """The head has a Connection header: the multidict path handles its tokens."""


def pool_lines(request: web.BaseRequest, drop_length: bool) -> bytes | None:
    """The header lines for upstream_pool.py straight from the request's raw headers; None
    when the client names headers in Connection (hop_by_hop.py's path reads them)."""
    try:
        return request_lines(request.raw_headers, request.remote or "", request.scheme, drop_length)
    except NamesInConnection:
        return None


def request_lines(raw: RawHeaders, remote: str, scheme: str, drop_length: bool) -> bytes:
    """The header lines to send upstream, as `upstream_headers` makes them (without the
    client's Content-Length when `drop_length`: the body's own is added after)."""
    lines: list[bytes] = []
    host: bytes | None = None
    forwarded_for = forwarded_proto = forwarded_host = False
    for name, value in raw:
        lower = name.lower()
        if lower in _HOP or lower[:6] == b"proxy-":
            if lower == b"connection":
                raise NamesInConnection
            if lower == b"host" and host is None:
                host = value
            continue
        if lower == b"x-forwarded-for":
            if forwarded_for:
                continue  # the first one carries the chain; set once, as a multidict does
            forwarded_for = True
            chain = value + b", " + remote.encode() if value else remote.encode()
            lines.append(b"X-Forwarded-For: " + chain + b"\r\n")
            continue
        if lower == b"x-forwarded-proto":
            forwarded_proto = True
        elif lower == b"x-forwarded-host":
            forwarded_host = True
        elif drop_length and lower == b"content-length":
            continue
        lines.append(name + b": " + value + b"\r\n")
    if not forwarded_for:
        lines.append(b"X-Forwarded-For: " + remote.encode() + b"\r\n")
    if not forwarded_proto:
        lines.append(b"X-Forwarded-Proto: " + scheme.encode() + b"\r\n")
    if host and not forwarded_host:
        lines.append(b"X-Forwarded-Host: " + host + b"\r\n")
    return b"".join(lines)


def answer_head(
    status: int, reason: str, raw: RawHeaders, body: bytes, keep_alive: bool, date: str
) -> bytes:
    """The status line and end-to-end headers for the client, with web.Response's defaults
    (Content-Length, Content-Type for a body, Date, Server, `Connection: close`). Raises
    ValueError where aiohttp's writer would (a control character in the line or a header)."""
    lines = [f"HTTP/1.1 {status} {reason}\r\n".encode()]
    seen: set[bytes] = set()
    checked: list[bytes] = [reason.encode()]
    for name, value in raw:
        lower = name.lower()
        if lower in _HOP or lower[:6] == b"proxy-":
            if lower == b"connection":
                raise NamesInConnection
            continue
        seen.add(lower)
        checked.append(name)
        checked.append(value)
        lines.append(name + b": " + value + b"\r\n")
    if _FORBIDDEN.search(b"\t".join(checked)) is not None:
        raise ValueError("a control character in the upstream's answer head")
    if b"content-length" not in seen:
        lines.append(b"Content-Length: %d\r\n" % len(body))
    if body and b"content-type" not in seen:
        lines.append(b"Content-Type: application/octet-stream\r\n")
    if b"date" not in seen:
        lines.append(b"Date: " + date.encode() + b"\r\n")
    if b"server" not in seen:
        lines.append(SERVER_LINE)
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)
