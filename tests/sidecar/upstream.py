"""A model-server-like upstream for sidecar tests: `python -m tests.sidecar.upstream --port N`.

Routes:
  *    /echo[...]        the request body back with its Content-Type; response headers
                         X-Received-Method, X-Received-Path (raw path and query) and
                         X-Received-Headers (JSON list of [name, value] as received);
                         ?status=N answers with status N
  POST /invocations      a toy model: CSV rows -> one score per row (text/csv; charset=utf-8),
                         JSON {"instances": [[...], ...]} -> {"predictions": [...]}
  GET  /csv, /json       fixed CSV / JSON documents
  GET  /binary           bytes 0..255 repeated, ?size=N (default 256), application/octet-stream
  GET, POST /stream      text/event-stream, ?chunks=N (default 5) events "data: <i>\\n\\n";
                         ?hold=TOKEN waits after the first event until POST /release/TOKEN;
                         ?wait=S waits S seconds before the response head; ?bytes=N adds N
                         bytes to the first write, as events of 1000 bytes
  *    /abort            one chunk of a chunked answer, then the connection is closed
  GET  /chunked          chunked transfer (no Content-Length), ?chunks=N, application/json lines
  *    /slow             answers after ?seconds=S (default 5)
  GET  /ping             200 "pong" (health)
  GET  /status/N         empty answer with status N
  GET  /headers          response with hop-by-hop headers, repeated Set-Cookie, odd casing
  GET  /gzip             a gzip-encoded JSON body with Content-Encoding: gzip
  POST /v1/chat/completions  OpenAI-compatible, as tests/sidecar/llm_upstream.py answers it
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json

from aiohttp import web

from tests.sidecar.llm_upstream import completions

HOLDS: dict[str, asyncio.Event] = {}
HOLD_TIMEOUT = 20.0
CSV_BODY = b"1.5,2,abc\n3.25,4,def\n"
JSON_BODY = b'{"predictions": [0.25, 0.75], "model": "toy"}'


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    status = int(request.query.get("status", "200"))
    headers = {
        "X-Received-Method": request.method,
        "X-Received-Path": request.raw_path,
        "X-Received-Headers": json.dumps(list(request.headers.items())),
    }
    if "Content-Type" in request.headers:
        headers["Content-Type"] = request.headers["Content-Type"]
    response = web.Response(status=status, headers=headers)
    response.body = body
    return response


def _score(row: str) -> str:
    values = [float(v) for v in row.split(",") if v.strip()]
    return f"{sum(values) / (1 + sum(abs(v) for v in values)):.4f}"


async def invocations(request: web.Request) -> web.Response:
    body = await request.read()
    if request.content_type == "application/json":
        instances = json.loads(body)["instances"]
        predictions = [float(_score(",".join(map(str, row)))) for row in instances]
        return web.json_response({"predictions": predictions})
    rows = [r for r in body.decode().splitlines() if r.strip()]
    text = "\n".join(_score(r) for r in rows)
    return web.Response(text=text, content_type="text/csv", charset="utf-8")


async def csv_doc(request: web.Request) -> web.Response:
    return web.Response(body=CSV_BODY, headers={"Content-Type": "text/csv"})


async def json_doc(request: web.Request) -> web.Response:
    return web.Response(body=JSON_BODY, headers={"Content-Type": "application/json"})


async def binary(request: web.Request) -> web.Response:
    size = int(request.query.get("size", "256"))
    data = bytes(range(256)) * (size // 256 + 1)
    return web.Response(body=data[:size], headers={"Content-Type": "application/octet-stream"})


async def stream(request: web.Request) -> web.StreamResponse:
    chunks = int(request.query.get("chunks", "5"))
    delay = float(request.query.get("delay", "0.01"))
    hold = request.query.get("hold")
    await asyncio.sleep(float(request.query.get("wait", "0")))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    padding = b"data: %s\n\n" % (b"x" * 992) * (int(request.query.get("bytes", "0")) // 1000)
    for i in range(chunks):
        await response.write(b"data: %d\n\n%s" % (i, padding if i == 0 else b""))
        if i == 0 and hold:
            event = HOLDS.setdefault(hold, asyncio.Event())
            await asyncio.wait_for(event.wait(), HOLD_TIMEOUT)
        else:
            await asyncio.sleep(delay)
    await response.write_eof()
    return response


async def abort(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/jsonlines"})
    await response.prepare(request)
    await response.write(b'{"token": 0}\n')
    await asyncio.sleep(0.05)
    assert request.transport is not None
    request.transport.close()  # the model server dies mid-answer
    return response


async def release(request: web.Request) -> web.Response:
    HOLDS.setdefault(request.match_info["token"], asyncio.Event()).set()
    return web.Response(text="released")


async def chunked(request: web.Request) -> web.StreamResponse:
    chunks = int(request.query.get("chunks", "4"))
    response = web.StreamResponse(headers={"Content-Type": "application/jsonlines"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(chunks):
        await response.write(json.dumps({"token": i}).encode() + b"\n")
        await asyncio.sleep(0.005)
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    await request.read()
    await asyncio.sleep(float(request.query.get("seconds", "5")))
    return web.Response(text="slow")


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="pong")


async def status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]))


async def headers(request: web.Request) -> web.Response:
    response = web.Response(body=b"{}", headers={"Content-Type": "application/json"})
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    response.headers.add("X-MiXeD-Case", "Value With  Spaces")
    response.headers.add("X-Repeated", "one")
    response.headers.add("X-Repeated", "two")
    response.headers.add("Connection", "X-Hop-Custom")
    response.headers.add("X-Hop-Custom", "drop me")
    response.headers.add("Keep-Alive", "timeout=5")
    response.headers.add("Proxy-Authenticate", "Basic")
    response.headers.add("Upgrade", "h2c")
    return response


async def gzipped(request: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(JSON_BODY, mtime=0),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


def build_app() -> web.Application:
    app = web.Application(client_max_size=0)
    app.router.add_post("/invocations", invocations)
    app.router.add_get("/csv", csv_doc)
    app.router.add_get("/json", json_doc)
    app.router.add_get("/binary", binary)
    app.router.add_get("/stream", stream)
    app.router.add_post("/stream", stream)
    app.router.add_post("/release/{token}", release)
    app.router.add_route("*", "/abort", abort)
    app.router.add_get("/chunked", chunked)
    app.router.add_route("*", "/slow", slow)
    app.router.add_get("/ping", ping)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/headers", headers)
    app.router.add_get("/gzip", gzipped)
    app.router.add_route("*", "/echo{tail:.*}", echo)
    app.router.add_post("/v1/chat/completions", completions)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    web.run_app(build_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
