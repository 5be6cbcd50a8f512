"""An exchange the fast lane (fast_lane.py) started and hands to the handler (handler.py) where
it leaves the usual path, and the sizes and methods both paths agree on."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sidecar.common.exchange import Exchange
from sidecar.proxy.request_tee import Outgoing
from sidecar.proxy.upstream_pool import UpstreamResponse

# Bodies up to this size are read whole (one write each way, the fast path); larger or
# unsized bodies are streamed through so memory stays bounded whatever clients send.
BUFFER_LIMIT = 1 << 20
# Methods whose buffered request is safe to send again on a fresh connection.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(slots=True)
class Handoff:
    """How far the fast lane got: the request was sent (`outgoing`, with its copy budget
    share) and either the upstream's answer head arrived (`response`, to relay) or the
    exchange failed (`failure`); `retry`: whether a closed pooled connection may be retried."""

    exchange: Exchange
    outgoing: Outgoing
    response: UpstreamResponse | None = None
    failure: BaseException | None = None
    retry: bool = False
    # Its client went away before the handler took it: counted already, nothing left to do.
    settled: bool = False


class HandsOver:
    """A connection protocol that keeps the exchange its fast lane handed over for the handler
    task's next request (an empty-slot mixin: the subclass declares the `handoff` slot)."""

    __slots__ = ()
    handoff: Handoff | None


def taken_over(request: web.BaseRequest) -> Handoff | None:
    """The exchange handed over with `request`, once; None for a request the handler starts.
    A `settled` one is left alone (its client has gone)."""
    protocol = request.protocol
    if not isinstance(protocol, HandsOver):
        return None
    handoff, protocol.handoff = protocol.handoff, None
    return handoff
