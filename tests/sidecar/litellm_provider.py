"""A LiteLLM custom provider for the tests: streams words with real delays between them.

Registered in LiteLLM's proxy config as `tests.sidecar.litellm_provider.delayed`; model
`delayed/<name>`: `delayed/pause` sends one word and then waits 30 s before the others (a long
silence, as during a long prefill), any other name waits 20 ms before each of 8 words.
When a stream ends early (its client went away and LiteLLM closed it), a line `cancelled <n>`
is appended to the file named by LLM_PROVIDER_LOG, `completed <n>` when it ran to the end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk

WORDS = ("Streams", " pass", " through", " the", " sidecar", " token", " by", " token")


def _log(line: str) -> None:
    path = os.environ.get("LLM_PROVIDER_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


class DelayedLLM(CustomLLM):
    # LiteLLM iterates what this returns: an async generator, not the coroutine it declares.
    async def astreaming(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        pause = str(kwargs.get("model", "")).endswith("pause")
        words = WORDS
        sent = 0
        try:
            for word in words:
                await asyncio.sleep(30.0 if pause and sent == 1 else 0.02)
                yield _chunk(word, None)
                sent += 1
            usage = {"prompt_tokens": 7, "completion_tokens": sent, "total_tokens": 7 + sent}
            yield _chunk("", usage)
        finally:
            _log(f"{'completed' if sent == len(words) else 'cancelled'} {sent}")


def _chunk(text: str, usage: Any) -> GenericStreamingChunk:
    last = usage is not None
    return {
        "text": text,
        "tool_use": None,
        "is_finished": last,
        "finish_reason": "stop" if last else "",
        "usage": usage,
        "index": 0,
    }


delayed = DelayedLLM()
