"""An OpenAI-compatible fixture upstream: `python -m tests.sidecar.llm_upstream --port N`.

Any POST path (so `/v1/chat/completions` and Azure-style paths alike); the request's `model`
picks the answer, streamed in small chunks with real delays when `"stream": true`:
  fixture           tests/sidecar/data/openai_chat_stream.sse, byte for byte
  tools             tests/sidecar/data/openai_tool_call_stream.sse, byte for byte
  malformed         the fixture with one event's JSON cut short
  not-json          `data: hello` events
  no-done           the fixture without `data: [DONE]`
  huge              one event of 3 MiB
  non-utf8          the fixture with bytes that are not UTF-8 in one event
  stall             two events, then silence for 30 s
Without `"stream": true`: one chat.completion JSON response with usage.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import orjson
from aiohttp import web

DATA = Path(__file__).parent / "data"
CHAT = (DATA / "openai_chat_stream.sse").read_bytes()
TOOLS = (DATA / "openai_tool_call_stream.sse").read_bytes()
DONE = b"data: [DONE]\n\n"
CHUNK = 97  # bytes per write: events are cut mid-way, as networks do
DELAY = 0.005
BIG = 1 << 16  # bytes per write of the huge stream
COMPLETION = {
    "id": "chatcmpl-plain",
    "object": "chat.completion",
    "created": 1764410580,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
}


def body_for(model: str) -> bytes:
    if model == "tools":
        return TOOLS
    if model == "malformed":
        return CHAT.replace(b'"content":" Paris"}', b'"content":" Paris"', 1)
    if model == "not-json":
        return b"data: hello\n\ndata: world\n\n" + DONE
    if model == "no-done":
        return CHAT.removesuffix(DONE)
    if model == "huge":
        return b'data: {"x":"' + b"y" * (3 << 20) + b'"}\n\n' + DONE
    if model == "non-utf8":
        return CHAT.replace(b" Paris", b" Pa\xff\xferis", 1)
    return CHAT


async def completions(request: web.Request) -> web.StreamResponse:
    payload = orjson.loads(await request.read() or b"{}")
    if not payload.get("stream"):
        return web.Response(body=orjson.dumps(COMPLETION), content_type="application/json")
    model = str(payload.get("model", "fixture"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    if model == "stall":
        first_two = b"\n\n".join(CHAT.split(b"\n\n")[:2]) + b"\n\n"
        await response.write(first_two)
        await asyncio.sleep(30)
        return response
    body = body_for(model)
    size = CHUNK if len(body) < BIG else BIG
    for start in range(0, len(body), size):
        await response.write(body[start : start + size])
        await asyncio.sleep(DELAY)
    await response.write_eof()
    return response


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app() -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app.router.add_get("/ping", ping)
    app.router.add_post("/{tail:.*}", completions)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(build_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
