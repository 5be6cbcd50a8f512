"""Stream assembly, unit level: SSE framing, OpenAI-compatible chunks -> the non-streamed response.

Byte-exact OpenAI streams (tests/sidecar/data/*.sse) cut at arbitrary places must assemble to the
same response; arbitrary bytes must never raise.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.capture.sse import EventFramer
from sidecar.capture.streams import (
    ASSEMBLED,
    CLIENT_DISCONNECTED,
    COMPLETED,
    OTHER,
    UNPARSABLE,
    UPSTREAM_TRUNCATED,
    StreamCapture,
    StreamResult,
)

DATA = Path(__file__).parents[1] / "data"  # tests/sidecar/data, shared with llm_upstream.py
CHAT = (DATA / "openai_chat_stream.sse").read_bytes()
TOOLS = (DATA / "openai_tool_call_stream.sse").read_bytes()
SSE = "text/event-stream; charset=utf-8"
LIMIT = 1 << 20


def run(
    chunks: list[bytes],
    *,
    limit: int = LIMIT,
    disconnected: bool = False,
    failed: bool = False,
    content_type: str = SSE,
) -> StreamResult:
    capture = StreamCapture(time.perf_counter(), limit, True, content_type)
    for chunk in chunks:
        capture.feed(chunk)
    return capture.finish(disconnected, failed)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def assembled(result: StreamResult) -> Any:
    assert result.assembled and result.body is not None
    return orjson.loads(result.body)


def test_openai_chat_stream_becomes_the_non_streamed_response() -> None:
    result = run([CHAT])
    assert assembled(result) == {
        "id": "chatcmpl-AqX3bN7mKc2Zl9pQ1vYt8RwE5sHdF",
        "object": "chat.completion",
        "created": 1764410580,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_560af6e559",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The capital of France is Paris. Café ☕",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": orjson.loads(CHAT.split(b"data: ")[-2].strip())["usage"],
    }
    assert result.kind == ASSEMBLED and result.outcome == COMPLETED
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert (result.prompt_tokens, result.completion_tokens) == (14, 9)
    metadata = result.metadata
    assert list(metadata) == [
        "stream",
        "timeToFirstTokenMs",
        "streamDurationMs",
        "events",
        "promptTokens",
        "completionTokens",
        "finishReason",
    ]
    assert metadata["events"] == 12 and metadata["finishReason"] == "stop"
    assert 0 <= metadata["timeToFirstTokenMs"] <= metadata["streamDurationMs"]


def test_tool_call_deltas_merge_by_index() -> None:
    message = assembled(run([TOOLS]))["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_Wq8nX3",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "call_Zr5tY1",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"tz":"CET"}'},
            },
        ],
    }


def test_completions_reasoning_and_several_choices() -> None:
    events = [
        {"id": "c1", "object": "text_completion", "created": 1, "model": "m", "choices": [
            {"index": 1, "text": "B", "finish_reason": None},
            {"index": 0, "text": "A", "finish_reason": None}]},
        {"id": "c1", "object": "text_completion", "created": 1, "model": "m", "choices": [
            {"index": 0, "text": "a", "finish_reason": "length"},
            {"index": 1, "text": "b", "finish_reason": "stop"}]},
    ]  # fmt: skip
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    response = assembled(run([body]))  # no [DONE]: every choice finished, so completed
    assert [(c["index"], c["text"], c["finish_reason"]) for c in response["choices"]] == [
        (0, "Aa", "length"),
        (1, "Bb", "stop"),
    ]
    chat = {"id": "r", "object": "chat.completion.chunk", "created": 2, "model": "r1"}
    deltas = [{"role": "assistant"}, {"reasoning_content": "think"}, {"content": "yes"}]
    stream = b"".join(
        b"data: "
        + orjson.dumps({**chat, "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
        + b"\r\n\r\n"
        for d in deltas
    )
    message = assembled(run([stream]))["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "yes", "reasoning_content": "think"}


def test_role_only_events_do_not_count_as_the_first_token() -> None:
    first = CHAT.split(b"\n\n")[0] + b"\n\n"
    result = run([first])
    assert result.time_to_first_token is None
    assert "timeToFirstTokenMs" not in result.metadata
    assert result.outcome == UPSTREAM_TRUNCATED  # no [DONE], no finish reason


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(CHAT)), max_size=40), st.booleans())
def test_assembly_does_not_depend_on_chunk_boundaries(points: list[int], crlf: bool) -> None:
    data = CHAT.replace(b"\n", b"\r\n") if crlf else CHAT
    whole = run([data])
    pieces = run(cut(data, points))
    assert pieces.body == whole.body
    assert pieces.metadata["events"] == whole.metadata["events"] == 12
    assert pieces.completion_tokens == 9


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.lists(st.integers(min_value=0), max_size=10))
def test_arbitrary_bytes_never_raise(data: bytes, points: list[int]) -> None:
    for ending in ((False, False), (True, False), (False, True)):
        result = run(cut(data, points), limit=1024, disconnected=ending[0], failed=ending[1])
        if result.body is not None and not result.assembled:
            assert result.body == data  # as received, byte for byte


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=64).map(lambda b: b"data: " + b + b"\n\n"),
            st.sampled_from([b"data: [DONE]\n\n", b": keep-alive\n\n", b"data: {}\n\n"]),
            st.sampled_from(CHAT.split(b"\n\n")).map(lambda e: e + b"\n\n"),
        ),
        max_size=12,
    )
)
def test_arbitrary_event_mixtures_never_raise(events: list[bytes]) -> None:
    run(events)


def test_other_event_streams_are_kept_as_received() -> None:
    body = b"event: tick\ndata: 1\n\ndata: 2\n\n"
    result = run([body])
    assert result.kind == OTHER and not result.assembled and result.body == body
    assert result.metadata["events"] == 2


def test_an_event_that_does_not_parse_keeps_the_stream_as_received() -> None:
    body = CHAT.replace(b'"content":" Paris"}', b'"content":" Paris"', 1)
    result = run([body])
    assert result.kind == UNPARSABLE and not result.assembled and result.body == body
    # Unparsable is not truncated: the stream ended with its finish reason and [DONE], and
    # what the other events said is kept.
    assert result.outcome == COMPLETED
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.completion_tokens == 9 and result.metadata["finishReason"] == "stop"


def test_an_unparsable_last_event_before_done_is_not_truncated() -> None:
    """The event that did not parse may be the one with the finish reason; [DONE] followed."""
    events = CHAT.split(b"\n\n")
    last = max(i for i, e in enumerate(events) if b'"finish_reason":"stop"' in e)
    events[last] = events[last][:-1]  # its JSON cut short
    result = run([b"\n\n".join(events)])
    assert result.kind == UNPARSABLE and result.outcome == COMPLETED
    assert result.model == "gpt-4o-mini-2024-07-18"
    without_done = run([b"\n\n".join(events).replace(b"data: [DONE]", b"")])
    assert without_done.outcome == UPSTREAM_TRUNCATED  # neither a finish reason nor [DONE]


def test_non_utf8_bytes_in_an_event() -> None:
    body = CHAT.replace(b" Paris", b" Pa\xff\xferis", 1)
    result = run([body])
    assert result.kind == UNPARSABLE and result.body == body


def test_a_stream_over_the_limit_is_too_large_but_still_followed() -> None:
    result = run(cut(CHAT, [500, 1500, 2500]), limit=1000)
    assert result.body is None and not result.assembled
    assert result.kind == ASSEMBLED
    assert result.completion_tokens == 9 and result.metadata["finishReason"] == "stop"


def test_one_huge_event_stops_the_framer_without_buffering_it() -> None:
    framer = EventFramer(max_line=100)
    assert framer.feed(b"data: " + b"x" * 1000) == []
    assert framer.overflowed
    result = run([b"data: " + b"x" * 5000, b"\n\n"], limit=1000)
    assert result.body is None


def test_client_disconnect_keeps_what_was_received() -> None:
    half = CHAT[: len(CHAT) // 2]
    result = run([half], disconnected=True)
    assert result.outcome == CLIENT_DISCONNECTED
    assert result.metadata["clientDisconnected"] is True
    assert assembled(result)["choices"][0]["finish_reason"] is None


def test_a_stream_that_ends_inside_an_event_still_assembles_it() -> None:
    result = run([CHAT.removesuffix(b"data: [DONE]\n\n").removesuffix(b"\n\n")])
    assert result.outcome == COMPLETED  # its choice has a finish reason
    assert assembled(result)["usage"]["completion_tokens"] == 9


def test_plain_chunked_responses_are_copied_as_before() -> None:
    result = run([b"abc", b"def"], content_type="application/json")
    assert result.body == b"abcdef" and result.kind is None and result.metadata == {}
    assert run([b"abc", b"def"], limit=4, content_type="").body is None
