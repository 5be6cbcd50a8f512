"""OpenAI-compatible exchanges -> one row of descriptor features (DESIGN.md section 10).

An exchange qualifies when its request is a JSON object with `messages` (chat) or `prompt`
(completions) and its response a JSON object whose `object` is `chat.completion` or
`text_completion`; streams qualify too, since the sidecar captures them assembled. Either side
alone (capture mode input or output) is enough. Features, missing (None) when unknown:
`model`, `prompt_messages`, `prompt_chars` (text of every message, all roles), `prompt_tokens`
and `completion_tokens` (from usage), `completion_chars` (every choice's content or text),
`finish_reason` (choice 0), `time_to_first_token_ms` (streams), `output_tokens_per_second`
(streams: completion tokens over the time after the first token; otherwise over the upstream
latency) and `empty_completion` (1 when no choice holds text or a tool call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

RESPONSE_OBJECTS = frozenset({"chat.completion", "text_completion"})
FEATURES = (
    "model",
    "prompt_messages",
    "prompt_chars",
    "prompt_tokens",
    "completion_tokens",
    "completion_chars",
    "finish_reason",
    "time_to_first_token_ms",
    "output_tokens_per_second",
    "empty_completion",
)


def _json_side(side: Any, marker: str) -> dict[str, Any] | None:
    """A captured JSON object side, parsed when its text holds `marker`; else None."""
    if type(side) is not dict or side.get("encoding") != "JSON":
        return None
    data = side.get("data")
    if type(data) is not str or not data.startswith("{") or marker not in data:
        return None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return document if type(document) is dict else None


def openai_request(side: Any) -> dict[str, Any] | None:
    document = _json_side(side, "")
    if document is None:
        return None
    if isinstance(document.get("messages"), list) or "prompt" in document:
        return document
    return None


def openai_response(side: Any) -> dict[str, Any] | None:
    document = _json_side(side, '"object"')
    if document is None or document.get("object") not in RESPONSE_OBJECTS:
        return None
    return document


def descriptors(
    endpoint_input: Any, endpoint_output: Any, metadata: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The descriptor row of an OpenAI-compatible exchange, or None when it is not one."""
    request = openai_request(endpoint_input)
    response = openai_response(endpoint_output)
    if request is None and response is None:
        return None
    if (request is None and endpoint_input is not None) or (
        response is None and endpoint_output is not None
    ):
        return None  # one side is something else: not this kind of exchange
    row: dict[str, Any] = dict.fromkeys(FEATURES)
    model = (response or {}).get("model") or (request or {}).get("model")
    row["model"] = model if isinstance(model, str) else None
    if request is not None:
        row["prompt_messages"], row["prompt_chars"] = _prompt(request)
    if response is not None:
        _describe_response(row, response, metadata)
    return row


def _prompt(request: Mapping[str, Any]) -> tuple[int, int]:
    messages = request.get("messages")
    if isinstance(messages, list):
        chars = sum(_text_length(m.get("content")) for m in messages if isinstance(m, dict))
        return len(messages), chars
    return 1, _text_length(request.get("prompt"))


def _text_length(content: Any) -> int:
    """Characters of a message content: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            _text_length(part.get("text")) if isinstance(part, dict) else _text_length(part)
            for part in content
        )
    return 0


def _describe_response(
    row: dict[str, Any], response: Mapping[str, Any], metadata: Mapping[str, Any]
) -> None:
    usage = response.get("usage")
    if isinstance(usage, dict):
        row["prompt_tokens"] = _count(usage.get("prompt_tokens"))
        row["completion_tokens"] = _count(usage.get("completion_tokens"))
    choices = response.get("choices")
    choices = [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []
    chars, tool_calls = 0, 0
    for choice in choices:
        message = choice.get("message")
        if isinstance(message, dict):
            chars += _text_length(message.get("content"))
            calls = message.get("tool_calls")
            tool_calls += len(calls) if isinstance(calls, list) else 0
        else:
            chars += _text_length(choice.get("text"))
    row["completion_chars"] = chars
    row["empty_completion"] = int(chars == 0 and tool_calls == 0)
    first = choices[0].get("finish_reason") if choices else None
    row["finish_reason"] = first if isinstance(first, str) else None
    ttft = _number(metadata.get("timeToFirstTokenMs"))
    row["time_to_first_token_ms"] = ttft
    row["output_tokens_per_second"] = _tokens_per_second(row["completion_tokens"], ttft, metadata)


def _tokens_per_second(
    tokens: int | None, ttft: float | None, metadata: Mapping[str, Any]
) -> float | None:
    if tokens is None:
        return None
    if metadata.get("stream") is True:
        duration = _number(metadata.get("streamDurationMs"))
        if duration is None or ttft is None:
            return None
        seconds = (duration - ttft) / 1000.0
    else:
        latency = _number(metadata.get("upstreamLatencyMs"))
        if latency is None:
            return None
        seconds = latency / 1000.0
    return round(tokens / seconds, 3) if seconds > 0 else None


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None
