"""OpenAI-compatible stream chunks -> the equivalent non-streamed response (DESIGN.md section 10).

`ResponseAssembly` absorbs the parsed `data` of each event (`chat.completion.chunk` or
`text_completion`) and builds the response a non-streamed request would have got: the head
(`id`, `created`, `model`, `system_fingerprint`) from the first event; per choice index the role,
the joined content/text and every other string delta (`reasoning_content`, `refusal`), tool-call
deltas merged by their index, the `finish_reason`; `usage` from the last event that carried it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHAT_CHUNK = "chat.completion.chunk"
TEXT_COMPLETION = "text_completion"
STREAM_OBJECTS = frozenset({CHAT_CHUNK, TEXT_COMPLETION})
_HEAD_KEYS = ("id", "created", "model", "system_fingerprint")


class ChunkError(ValueError):
    """An event that is not an OpenAI-compatible stream chunk."""


@dataclass(slots=True)
class _ToolCall:
    id: Any = None
    type: Any = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def absorb(self, delta: dict[str, Any]) -> None:
        if delta.get("id") is not None:
            self.id = delta["id"]
        if delta.get("type") is not None:
            self.type = delta["type"]
        function = delta.get("function")
        if isinstance(function, dict):
            name = function.get("name")
            # Some servers repeat the name in every delta; it is never split across them.
            if isinstance(name, str) and name and not self.name:
                self.name = name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                self.arguments.append(arguments)

    def to_json(self) -> dict[str, Any]:
        call: dict[str, Any] = {"id": self.id, "type": self.type or "function"}
        call["function"] = {"name": self.name, "arguments": "".join(self.arguments)}
        return call


@dataclass(slots=True)
class _Choice:
    texts: dict[str, list[str]] = field(default_factory=dict)  # delta key -> parts
    values: dict[str, Any] = field(default_factory=dict)  # role and other non-string fields
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    finish_reason: Any = None

    def absorb_delta(self, delta: dict[str, Any]) -> bool:
        """Merge one chat delta; True when it carried content, text or a tool call."""
        produced = False
        for key, value in delta.items():
            if key == "tool_calls":
                produced = self._absorb_tool_calls(value) or produced
            elif isinstance(value, str) and key != "role":
                self.texts.setdefault(key, []).append(value)
                produced = produced or bool(value)
            elif value is not None:
                self.values[key] = value
        return produced

    def _absorb_tool_calls(self, deltas: Any) -> bool:
        if not isinstance(deltas, list):
            return False
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                raise ChunkError("a tool_calls delta is not an object")
            index = delta.get("index", position)
            if not isinstance(index, int):
                raise ChunkError("a tool_calls delta has no integer index")
            self.tool_calls.setdefault(index, _ToolCall()).absorb(delta)
        return bool(deltas)

    def drop_text(self) -> None:
        self.texts.clear()
        self.tool_calls.clear()


class ResponseAssembly:
    """The response being assembled from one stream's chunks; `keep_text=False` keeps only what
    metrics need (head, finish reasons, usage), for streams too large to capture."""

    __slots__ = ("_choices", "head", "keep_text", "kind", "usage")

    def __init__(self) -> None:
        self.kind: str | None = None
        self.head: dict[str, Any] = {}
        self.usage: Any = None
        self.keep_text = True
        self._choices: dict[int, _Choice] = {}

    def absorb(self, chunk: Any) -> bool:
        """Merge one parsed event; True when it carried a token. Raises ChunkError."""
        if not isinstance(chunk, dict) or chunk.get("object") not in STREAM_OBJECTS:
            raise ChunkError("not a chat.completion.chunk or text_completion event")
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise ChunkError("a chunk without a choices list")
        if self.kind is None:
            self.kind = chunk["object"]
            self.head = {key: chunk[key] for key in _HEAD_KEYS if key in chunk}
        if chunk.get("usage") is not None:
            self.usage = chunk["usage"]
        produced = False
        for position, raw in enumerate(choices):
            if not isinstance(raw, dict):
                raise ChunkError("a choice is not an object")
            index = raw.get("index", position)
            if not isinstance(index, int):
                raise ChunkError("a choice has no integer index")
            choice = self._choices.get(index)
            if choice is None:
                choice = self._choices[index] = _Choice()
            if raw.get("finish_reason") is not None:
                choice.finish_reason = raw["finish_reason"]
            produced = self._absorb_choice(choice, raw) or produced
        return produced

    def _absorb_choice(self, choice: _Choice, raw: dict[str, Any]) -> bool:
        delta = raw.get("delta") if self.kind == CHAT_CHUNK else {"text": raw.get("text")}
        if delta is None:
            return False
        if not isinstance(delta, dict):
            raise ChunkError("a choice's delta is not an object")
        if not self.keep_text:
            scratch = _Choice()
            return scratch.absorb_delta(delta)
        return choice.absorb_delta(delta)

    def stop_keeping_text(self) -> None:
        self.keep_text = False
        for choice in self._choices.values():
            choice.drop_text()

    @property
    def finish_reason(self) -> Any:
        """The finish reason of choice 0 (None when it has none)."""
        choice = self._choices.get(0)
        return choice.finish_reason if choice is not None else None

    @property
    def finished(self) -> bool:
        """Every choice seen has a finish reason."""
        return bool(self._choices) and all(
            c.finish_reason is not None for c in self._choices.values()
        )

    def response(self) -> dict[str, Any]:
        """The equivalent non-streamed response object."""
        chat = self.kind == CHAT_CHUNK
        result: dict[str, Any] = {"id": self.head.get("id")}
        result["object"] = "chat.completion" if chat else TEXT_COMPLETION
        result.update((k, self.head[k]) for k in _HEAD_KEYS[1:] if k in self.head)
        choices = []
        for index in sorted(self._choices):
            choice = self._choices[index]
            item: dict[str, Any] = {"index": index}
            if chat:
                item["message"] = _message(choice)
            else:
                item["text"] = "".join(choice.texts.get("text", ()))
            item["finish_reason"] = choice.finish_reason
            choices.append(item)
        result["choices"] = choices
        if self.usage is not None:
            result["usage"] = self.usage
        return result


def _message(choice: _Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": choice.values.get("role", "assistant")}
    content = choice.texts.get("content")
    message["content"] = "".join(content) if content is not None else None
    for key, parts in choice.texts.items():
        if key != "content":
            message[key] = "".join(parts)
    for key, value in choice.values.items():
        if key != "role":
            message[key] = value
    if choice.tool_calls:
        message["tool_calls"] = [choice.tool_calls[i].to_json() for i in sorted(choice.tool_calls)]
    return message
