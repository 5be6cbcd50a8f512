"""A streamed response, followed chunk by chunk as it passes: its capture and its GenAI figures.

`StreamCapture.feed` runs after each chunk is written to the client (it never delays one) and
does work linear in the chunk: a copy up to the capture limit and, for `text/event-stream`, the
event framing (sidecar.capture.sse) and the OpenAI-compatible assembly
(sidecar.capture.openai_stream). `finish` says what to capture (DESIGN.md section 10): the
assembled response as JSON with the stream's `eventMetadata` extensions, or the bytes as received
(other event streams, events that do not parse), or nothing when the stream outgrew the limit.
An event that does not parse changes what is captured, not how the stream ended: the events after
it are still followed for the model, usage and finish reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from sidecar.capture.openai_stream import ChunkError, ResponseAssembly
from sidecar.capture.sse import EventFramer

EVENT_STREAM = "text/event-stream"
_DONE = b"[DONE]"
# What a stream turned out to be; `assembled` ones are captured as the equivalent response.
ASSEMBLED = "assembled"
OTHER = "other"  # an event stream, but not an OpenAI-compatible one
UNPARSABLE = "unparsable"  # began as one, then an event did not parse
ASSEMBLY_OUTCOMES = (ASSEMBLED, OTHER, UNPARSABLE)
# How it ended, the `outcome` of infertap_gen_ai_streams_total.
COMPLETED = "completed"
CLIENT_DISCONNECTED = "client_disconnected"
UPSTREAM_TRUNCATED = "upstream_truncated"
STREAM_OUTCOMES = (COMPLETED, CLIENT_DISCONNECTED, UPSTREAM_TRUNCATED)


def is_event_stream(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == EVENT_STREAM


@dataclass(slots=True)
class StreamResult:
    """What `finish` found. `body` is None when the stream outgrew the capture limit."""

    body: bytes | None
    assembled: bool = False  # `body` is the assembled response (JSON), not the raw bytes
    metadata: dict[str, Any] = field(default_factory=dict)  # eventMetadata extensions
    kind: str | None = None  # ASSEMBLED, OTHER or UNPARSABLE for event streams, else None
    outcome: str = COMPLETED
    model: str | None = None
    time_to_first_token: float | None = None  # seconds
    duration: float = 0.0  # seconds, request arrival to the end of the stream
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    content_events: int = 0


class StreamCapture:
    """One streamed response: fed every chunk; `limit` bounds what is kept (the capture limit).

    `keep` False: nothing is copied (not sampled), only the GenAI figures are followed.
    """

    __slots__ = (
        "_assembly",
        "_content_events",
        "_copy",
        "_done",
        "_events",
        "_first_token",
        "_framer",
        "_kind",
        "_limit",
        "_received",
        "_started",
    )

    def __init__(self, started: float, limit: int, keep: bool, content_type: str) -> None:
        self._started = started  # time.perf_counter() at request arrival
        self._limit = limit
        self._copy: bytearray | None = bytearray() if keep else None
        self._received = 0
        events = is_event_stream(content_type)
        self._framer = EventFramer(limit) if events else None
        self._assembly = ResponseAssembly()
        if not keep:
            self._assembly.stop_keeping_text()  # nothing is captured: metrics need no text
        self._kind: str | None = None
        self._events = 0
        self._content_events = 0
        self._done = False
        self._first_token: float | None = None

    @property
    def copying(self) -> bool:
        """Whether a copy is still kept (not past the limit, not dropped)."""
        return self._copy is not None

    def drop_copy(self) -> None:
        """Keep nothing more for capture (the copy and the assembly's text); metrics go on."""
        self._copy = None
        self._assembly.stop_keeping_text()

    def feed(self, chunk: bytes) -> None:
        self._received += len(chunk)
        copy = self._copy
        if copy is not None:
            if len(copy) + len(chunk) > self._limit:
                self._copy = None
            else:
                copy += chunk
        if self._framer is None:
            return
        if self._received > self._limit and self._assembly.keep_text:
            self._assembly.stop_keeping_text()
        for data in self._framer.feed(chunk):
            self._event(data)

    def _event(self, data: bytes) -> None:
        if len(data) < 16 and data.strip() == _DONE:
            self._done = True
            return
        self._events += 1
        if self._kind == OTHER:
            return  # captured as received: the events are only counted
        try:
            produced = self._assembly.absorb(orjson.loads(data))
        except (orjson.JSONDecodeError, ChunkError):
            if self._kind is not None:  # captured as received: the text is not needed
                self._assembly.stop_keeping_text()
            self._kind = OTHER if self._kind is None else UNPARSABLE
            return
        # After an unparsable event the stream is captured as received, but the events after it
        # are still followed: they carry the finish reason, the usage and the stream's end.
        self._kind = self._kind or ASSEMBLED
        if produced:
            self._content_events += 1
            if self._first_token is None:
                self._first_token = time.perf_counter()

    def finish(self, client_disconnected: bool, upstream_failed: bool) -> StreamResult:
        """What to capture and observe, once the stream has ended one way or another; the
        result's `outcome` says whether it is whole (COMPLETED) or truncated, and how."""
        ended = time.perf_counter()
        framer = self._framer
        if framer is not None and not client_disconnected and not upstream_failed:
            last = framer.pending_event()  # a final event without its empty line
            if last is not None:
                self._event(last)
        body = bytes(self._copy) if self._copy is not None else None
        self._copy = None  # `body` is the copy now: never both held for long
        result = StreamResult(body, duration=ended - self._started)
        assembly = self._assembly
        # Clients (the openai SDK among them) hang up once they have [DONE]: the stream is whole.
        if self._done:
            client_disconnected = upstream_failed = False
        if client_disconnected:
            result.outcome = CLIENT_DISCONNECTED
        elif upstream_failed or (framer is not None and not self._ended_whole()):
            result.outcome = UPSTREAM_TRUNCATED
        if framer is None:
            return result
        kind = result.kind = self._kind or OTHER
        if self._first_token is not None:
            result.time_to_first_token = self._first_token - self._started
        result.content_events = self._content_events
        if kind in (ASSEMBLED, UNPARSABLE):
            self._describe(result)
        if kind == ASSEMBLED and body is not None and not framer.overflowed:
            result.body = orjson.dumps(assembly.response())
            result.assembled = True
        result.metadata = self._metadata(result, client_disconnected)
        return result

    def _ended_whole(self) -> bool:
        """Every choice finished; or [DONE] came after an event that did not parse (that event
        may have been the one with the finish reason: unparsable is not truncated)."""
        return self._assembly.finished or (self._done and self._kind == UNPARSABLE)

    def _describe(self, result: StreamResult) -> None:
        assembly = self._assembly
        model = assembly.head.get("model")
        result.model = model if isinstance(model, str) else None
        usage = assembly.usage
        if isinstance(usage, dict):
            result.prompt_tokens = _count(usage.get("prompt_tokens"))
            result.completion_tokens = _count(usage.get("completion_tokens"))

    def _metadata(self, result: StreamResult, client_disconnected: bool) -> dict[str, Any]:
        """The eventMetadata extensions of DESIGN.md section 10, in its order."""
        metadata: dict[str, Any] = {"stream": True}
        if result.time_to_first_token is not None:
            metadata["timeToFirstTokenMs"] = _ms(result.time_to_first_token)
        metadata["streamDurationMs"] = _ms(result.duration)
        metadata["events"] = self._events
        if result.prompt_tokens is not None:
            metadata["promptTokens"] = result.prompt_tokens
        if result.completion_tokens is not None:
            metadata["completionTokens"] = result.completion_tokens
        finish_reason = self._assembly.finish_reason
        if result.kind in (ASSEMBLED, UNPARSABLE) and finish_reason is not None:
            metadata["finishReason"] = finish_reason
        if client_disconnected:
            metadata["clientDisconnected"] = True
        return metadata


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None
