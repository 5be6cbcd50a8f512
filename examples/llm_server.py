"""A small OpenAI-compatible LLM server for the demo and benchmarks: words streamed token by token.

`python examples/llm_server.py --port 8000` serves `POST /v1/chat/completions` and
`POST /v1/completions` (streamed with `"stream": true`, as Server-Sent Events ending with
`data: [DONE]`; `stream_options.include_usage` adds the usage event), `GET /v1/models` and
`GET /health` (and `/ping`). The answer is `max_tokens` words (default 16) picked from the
prompt's hash; the first token comes after `--first-token-delay` plus 20 microseconds per prompt
character (prefill grows with the prompt, as on a real server), the next ones `--token-delay`
apart. No model weights: the point is realistic traffic shapes, not text.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

MODEL = "demo-llm-1b"
WORDS = [
    "the",
    "model",
    "answers",
    "with",
    "words",
    "that",
    "stream",
    "one",
    "by",
    "one",
    "while",
    "the",
    "sidecar",
    "watches",
    "every",
    "token",
    "pass",
    "and",
    "keeps",
    "a",
    "copy",
    "of",
    "the",
    "whole",
    "answer",
    "for",
    "monitoring",
    "drift",
    "later",
    "on",
]
PREFILL_PER_CHAR = 20e-6
CONFIG = web.AppKey("config", argparse.Namespace)


def prompt_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        return " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    return str(body.get("prompt", ""))


def answer_words(prompt: str, count: int) -> list[str]:
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big")
    return [
        ("" if i == 0 else " ") + WORDS[(seed >> (i % 48) ^ i * 7) % len(WORDS)]
        for i in range(count)
    ]


def _chunk(head: dict[str, Any], chat: bool, text: str | None, finish: str | None) -> bytes:
    if chat:
        delta: dict[str, Any] = {} if text is None else {"content": text}
        if text is not None and head.pop("_first", False):
            delta["role"] = "assistant"
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text or "", "finish_reason": finish}
    event = {k: v for k, v in head.items() if not k.startswith("_")}
    return b"data: " + orjson.dumps({**event, "choices": [choice]}) + b"\n\n"


async def completions(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return web.json_response({"error": {"message": "the body is not JSON"}}, status=400)
    chat = request.path.endswith("/chat/completions")
    prompt = prompt_text(body)
    words = answer_words(prompt, int(body.get("max_tokens") or 16))
    usage = {
        "prompt_tokens": max(1, len(prompt) // 4),
        "completion_tokens": len(words),
        "total_tokens": max(1, len(prompt) // 4) + len(words),
    }
    finish = "length" if body.get("max_tokens") else "stop"
    head: dict[str, Any] = {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model") or MODEL,
    }
    await asyncio.sleep(config.first_token_delay + PREFILL_PER_CHAR * len(prompt))
    if not body.get("stream"):
        await asyncio.sleep(config.token_delay * len(words))
        text = "".join(words)
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": text}}
            if chat
            else {"index": 0, "text": text}
        )
        kind = "chat.completion" if chat else "text_completion"
        answer = {**head, "object": kind, "choices": [{**choice, "finish_reason": finish}]}
        return web.json_response({**answer, "usage": usage})
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    head["_first"] = True
    for index, word in enumerate(words):
        if index:
            await asyncio.sleep(config.token_delay)
        await response.write(_chunk(head, chat, word, None))
    await response.write(_chunk(head, chat, None, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        event = {k: v for k, v in head.items() if not k.startswith("_")}
        await response.write(b"data: " + orjson.dumps({**event, "choices": [], "usage": usage}))
        await response.write(b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(config: argparse.Namespace) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/ping", health)  # the sidecar's default --upstream-health-path
    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--first-token-delay", type=float, default=0.02, help="seconds")
    parser.add_argument("--token-delay", type=float, default=0.005, help="seconds per token")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    web.run_app(build_app(args), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
