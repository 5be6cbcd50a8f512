"""A small buffered answer written in one `transport.write`: status line, headers and body.

The same bytes aiohttp's `web.Response` would send (raw_heads.py: its refusals, its default
Content-Type, Content-Length, Date, Server and `Connection: close` rules), without building the
header multidict, the response object, its `StreamWriter` round and two awaits per answer.
Only for HTTP/1.1 answers that carry a body and no Connection header; HTTP/1.0 clients, HEAD
requests and 1xx/204/304 answers keep aiohttp's path.
"""

from __future__ import annotations

from aiohttp import HttpVersion11, web
from aiohttp.helpers import must_be_empty_body, rfc822_formatted_time

from sidecar.proxy.aiohttp_internals import sent_response
from sidecar.proxy.raw_heads import RawHeaders, answer_head
from sidecar.proxy.upstream_pool import UpstreamProtocolError

UNRELAYABLE = "upstream sent a header that cannot be relayed"


class ClientGone(ConnectionError):
    """The client's connection closed before its answer could be written."""


async def prepare(response: web.StreamResponse, request: web.BaseRequest) -> None:
    """Send the status line and headers the aiohttp way. aiohttp refuses to write a header
    value with a control character, which its client parser lets through: the upstream's
    fault, answered 502."""
    try:
        await response.prepare(request)
    except ValueError as exc:
        raise UpstreamProtocolError(UNRELAYABLE) from exc


def fits(request: web.BaseRequest, status: int) -> bool:
    """Whether `send_whole` can answer this request with this status."""
    return request.version == HttpVersion11 and not must_be_empty_body(request.method, status)


async def send_whole(
    request: web.BaseRequest, status: int, reason: str, raw: RawHeaders, body: bytes
) -> web.StreamResponse:
    """Write the answer (`raw`: the upstream's headers, filtered here) and return what the
    handler returns to aiohttp for it. Raises ValueError for a header aiohttp would refuse to
    write, NamesInConnection for a head left to aiohttp's path, ClientGone when the client
    has gone."""
    keep_alive = request.keep_alive
    head = answer_head(status, reason, raw, body, keep_alive, rfc822_formatted_time())
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ClientGone("the client closed the connection")
    transport.write(head + body if body else head)
    writer = request.writer
    # Counted as aiohttp's writer counts: the answer has started (handler.py's last resort
    # reads this), and a slow reader holds the handler as aiohttp's write_eof would.
    writer.output_size += len(head) + len(body)
    if transport.get_write_buffer_size():
        await writer.drain()
    return sent_response(keep_alive)
