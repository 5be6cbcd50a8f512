"""One proxied exchange as the proxy saw it: what a capture record is made of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Exchange:
    """Made by the proxy when a request arrives and filled in as it goes; staged for capture and
    queued as is, then encoded into a record line by `record.RecordEncoder` in the writer.

    A body is None when it was over --max-capture-bytes (the exchange is then not staged).
    `path` and `status` are None only for records made without a proxy (`record.build_record`).
    """

    arrived: float  # wall time of arrival: the record's inferenceTime and partition hour
    path: str | None
    started: float = 0.0  # perf_counter at arrival, for the request duration
    inference_id: str | None = None
    sampled: bool = False
    request_type: str = ""
    request_body: bytes | None = b""
    status: int | None = None
    response_type: str = ""
    response_body: bytes | None = b""
    upstream_latency: float | None = None  # seconds until the upstream's response headers
    truncated: bool = False
    event_id: str | None = None  # a given eventId (tests, replays); else a fresh random UUID4
