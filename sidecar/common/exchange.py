"""One proxied exchange as the proxy saw it: what a capture record is made of."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Capture:
    """What is captured of one exchange, decided once when its request arrives (by
    `sidecar.capture.policy.CapturePolicy`); the proxy, the capturer and the record encoder only
    read it. `input`/`output`: the sides kept (a record holds exactly these); `limit`: the most
    bytes a copy of one body may hold (--max-capture-bytes)."""

    input: bool = False
    output: bool = False
    limit: int = 0

    @property
    def sampled(self) -> bool:
        return self.input or self.output


NOT_CAPTURED = Capture()
# Both sides, no size limit: records made without a proxy (`record.build_record`, tests).
BOTH_SIDES = Capture(True, True, 1 << 62)


@dataclass(slots=True)
class Exchange:
    """Made by the proxy when a request arrives and filled in as it goes; staged for capture and
    queued as is, then encoded into a record line by `record.RecordEncoder` in the writer.

    A body holds what was captured of its side; it is read only when `capture` names the side.
    `dropped` is set on the request path when the exchange cannot be recorded (a copy outgrew
    `capture.limit`, ...): the capturer then counts it under that reason instead of staging it.
    `path` and `status` are None only for records made without a proxy (`record.build_record`).
    """

    arrived: float  # wall time of arrival: the record's inferenceTime and partition hour
    path: str | None
    started: float = 0.0  # perf_counter at arrival, for the request duration
    inference_id: str | None = None
    capture: Capture = NOT_CAPTURED
    request_type: str = ""
    request_body: bytes = b""
    status: int | None = None
    response_type: str = ""
    response_body: bytes = b""
    upstream_latency: float | None = None  # seconds until the upstream's response headers
    truncated: bool = False
    dropped: str | None = None  # a drop reason (sidecar.metrics.DROP_REASONS)
    event_id: str | None = None  # a given eventId (tests, replays); else a fresh random UUID4
    # A token stream assembled into the equivalent non-streamed response (JSON whatever the
    # observed type), and the stream's eventMetadata extensions (DESIGN.md section 10).
    assembled: bool = False
    extra_metadata: dict[str, Any] | None = None


def _clean(text: str | None) -> str | None:
    """`text` as valid Unicode: header values may carry undecodable bytes as lone surrogates
    (aiohttp decodes with surrogateescape); each becomes U+FFFD."""
    if text is None:
        return None
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def with_valid_text(exchange: Exchange) -> Exchange:
    """A copy of `exchange` whose header-borne strings are valid Unicode."""
    return dataclasses.replace(
        exchange,
        path=_clean(exchange.path),
        inference_id=_clean(exchange.inference_id),
        request_type=_clean(exchange.request_type) or "",
        response_type=_clean(exchange.response_type) or "",
        event_id=_clean(exchange.event_id),
    )
