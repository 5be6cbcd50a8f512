"""The fast lane against the handler: the same bytes, counts and records whichever path carries
an exchange; usual requests do take the lane; what leaves it (streams, failures, heads to
rewrite) is finished by the handler; pipelined requests keep their order across both paths; a
client gone, a keep-alive timer and a graceful stop treat a lane exchange as aiohttp's own.

The sidecar runs in this process (its traffic app, as `python -m sidecar` serves it) so that its
server's count of requests its handler task took (`requests_count`) can be read; the upstream
is the real model server of tests/sidecar/upstream.py."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.app import Lifecycle, build_traffic_app, drain, start_traffic_site
from sidecar.metrics import SidecarMetrics
from sidecar.proxy.traffic_server import TrafficServer
from tests.sidecar.conftest import Upstream
from tests.sidecar.delivery_support import make_settings


@dataclass
class Served:
    port: int
    server: TrafficServer
    metrics: SidecarMetrics
    destination: Path

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def records(self) -> list[dict[str, object]]:
        lines = (
            line
            for path in sorted(self.destination.rglob("*.jsonl"))
            for line in path.read_bytes().splitlines()
        )
        return [orjson.loads(line) for line in lines if line]


@asynccontextmanager
async def serving(
    upstream: str, folder: Path, *flags: str, lane: bool = True, stop_within: float = 5.0
) -> AsyncIterator[Served]:
    """The traffic port of a sidecar capturing every exchange, with or without the lane;
    stopped (in-flight requests given `stop_within` seconds, then its captures delivered) on
    leaving."""
    destination, spool = folder / "out", folder / "spool"
    settings = make_settings(
        str(destination),
        spool,
        "--upstream",
        upstream,
        "--capture-methods",
        "*",
        "--sampling-percentage",
        "100",
        *flags,
    )
    metrics = SidecarMetrics()
    lifecycle = Lifecycle()
    app = build_traffic_app(settings, metrics, lifecycle, spool_dir=spool)
    runner = await start_traffic_site(
        app, "127.0.0.1", 0, fast_lane=lane, shutdown_timeout=stop_within
    )
    server = runner.server
    assert isinstance(server, TrafficServer)
    served = Served(runner.addresses[0][1], server, metrics, destination)
    try:
        yield served
    finally:
        await drain(runner, lifecycle, stop_within + 5.0)


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One answer (Content-Length or chunked body), without its Date header."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines if line)]
    answer = Answer(int(status_line.split(" ")[1]), [h for h in headers if h[0] != "Date"], b"")
    if answer.header("Transfer-Encoding") == "chunked":
        while size := int((await reader.readline()).split(b";")[0], 16):
            answer.body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    else:
        answer.body = await reader.readexactly(int(answer.header("Content-Length") or 0))
    return answer


async def exchanges(port: int, requests: list[bytes], *, pipelined: bool = False) -> list[Answer]:
    """`requests` on one keep-alive connection, each after the last answer (or all at once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        if pipelined:
            writer.write(b"".join(requests))
            return [await read_answer(reader) for _ in requests]
        for request in requests:
            writer.write(request)
            answers.append(await read_answer(reader))
        return answers
    finally:
        writer.close()


WARM_UP = b"GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"  # opens the upstream pool's connection
USUAL = [
    b"POST /echo/a%20b?x=%2F HTTP/1.1\r\nHost: h\r\nContent-Type: text/csv\r\n"
    b"X-Custom: one\r\nX-Custom: two\r\nContent-Length: 5\r\n\r\n1,2,3",
    b"GET /echo?q=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
    b"PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nHost: h\r\nContent-Type: text/csv\r\n"
    b"X-Amzn-SageMaker-Inference-Id: id-7\r\nContent-Length: 7\r\n\r\n1,2\n3,4",
    b"GET /status/404 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"DELETE /echo?status=201 HTTP/1.1\r\nHost: h\r\nKeep-Alive: timeout=5\r\n"
    b"Proxy-Authorization: secret\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: 4\r\n\r\n\x00\xff\xfe\x01",
]


def _without_event_ids(records: list[dict[str, object]]) -> list[bytes]:
    """The records, sorted, without what differs between runs (ids, times, the upstream's
    latency); the files' order is not the requests'."""
    varying = rb'"(eventId|inferenceTime)":"[^"]*"|"upstreamLatencyMs":[0-9.]+'
    return sorted(re.sub(varying, b"", orjson.dumps(r)) for r in records)


async def test_usual_exchanges_take_the_lane_with_the_handlers_bytes_counts_and_records(
    upstream: Upstream, tmp_path: Path
) -> None:
    seen: dict[bool, tuple[list[Answer], list[bytes], dict[str, float]]] = {}
    for lane in (False, True):
        async with serving(upstream.url, tmp_path / str(lane), lane=lane) as served:
            await exchanges(served.port, [WARM_UP])
            answers = await exchanges(served.port, USUAL)
            # The handler task took the warm-up only (it opened the pool's connection).
            assert served.server.requests_count == (1 if lane else 1 + len(USUAL))
            counts = {
                code: served.metric("infertap_requests_total", code=code)
                for code in ("200", "201", "404")
            }
        counts["captured"] = served.metric("infertap_capture_records_total", outcome="captured")
        seen[lane] = answers, _without_event_ids(served.records()), counts
    assert seen[True] == seen[False]
    answers, records, counts = seen[True]
    assert [a.status for a in answers] == [200, 200, 200, 200, 404, 201, 200]
    assert answers[0].header("X-Received-Path") == "/echo/a%20b?x=%2F"
    received = orjson.loads(answers[1].header("X-Received-Headers") or "[]")
    assert ["X-Forwarded-For", "10.0.0.1, 127.0.0.1"] in received
    assert not any(name.lower().startswith(("proxy-", "keep-alive")) for name, _ in received)
    assert answers[6].body == b"\x00\xff\xfe\x01"
    assert counts == {"200": 6.0, "201": 1.0, "404": 1.0, "captured": 8.0}  # with the warm-up
    assert len(records) == 8


async def test_pipelined_requests_keep_their_order_across_both_paths(
    upstream: Upstream, tmp_path: Path
) -> None:
    requests = [
        b"GET /echo?n=1 HTTP/1.1\r\nHost: h\r\n\r\n",  # the lane
        # Names in Connection: the handler's path reads them.
        b"GET /echo?n=2 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\n",
        b"POST /echo?n=3 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n3",  # the lane
        b"GET /chunked?chunks=2 HTTP/1.1\r\nHost: h\r\n\r\n",  # handed over: a streamed answer
        b"GET /echo?n=5 HTTP/1.1\r\nHost: h\r\n\r\n",
    ]
    async with serving(upstream.url, tmp_path) as served:
        await exchanges(served.port, [WARM_UP])
        answers = await exchanges(served.port, requests, pipelined=True)
        # The first took the lane; the second was handed back, and the handler task, once it
        # has a request, takes the ones queued behind it.
        assert served.server.requests_count == 1 + len(requests) - 1
    paths = [a.header("X-Received-Path") for a in answers]
    assert paths == ["/echo?n=1", "/echo?n=2", "/echo?n=3", None, "/echo?n=5"]
    assert answers[3].body == b'{"token": 0}\n{"token": 1}\n'
    assert orjson.loads(answers[1].header("X-Received-Headers") or "[]")[-1][0] != "X-Drop"


async def test_what_leaves_the_lane_is_finished_by_the_handler(
    upstream: Upstream, tmp_path: Path
) -> None:
    async with serving(upstream.url, tmp_path, "--upstream-timeout", "0.5") as served:
        await exchanges(served.port, [WARM_UP])
        stream, head, timed_out = await exchanges(
            served.port,
            [
                b"POST /stream?chunks=3&delay=0 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
                b"HEAD /echo HTTP/1.1\r\nHost: h\r\n\r\n",
                b"GET /slow?seconds=3 HTTP/1.1\r\nHost: h\r\n\r\n",
            ],
        )
        # Each was sent by the lane and handed over with its answer or failure.
        assert served.server.requests_count == 1 + 3
    assert stream.status == 200 and stream.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert (head.status, head.body) == (200, b"")
    assert timed_out.status == 504
    assert orjson.loads(timed_out.body)["error"] == "upstream_timeout"
    assert served.metric("infertap_upstream_errors_total", reason="timeout") == 1
    assert served.metric("infertap_requests_total", code="504") == 1
    assert served.metric("infertap_capture_records_total", outcome="captured") == 4


async def in_flight(
    served: Served, request: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`request` sent on a new connection once the pool has a connection (so the lane takes
    it), and given time to reach the upstream."""
    await exchanges(served.port, [WARM_UP])
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(request)
    await writer.drain()
    await asyncio.sleep(0.3)
    return reader, writer


async def test_a_client_gone_from_the_lane_is_counted_and_its_upstream_request_closed(
    upstream: Upstream, tmp_path: Path
) -> None:
    async with serving(upstream.url, tmp_path) as served:
        slow = b"POST /slow?seconds=5 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n1"
        _, writer = await in_flight(served, slow)
        writer.close()
        for _ in range(50):
            if served.metric("infertap_requests_total", code="499"):
                break
            await asyncio.sleep(0.05)
        assert served.metric("infertap_requests_total", code="499") == 1
        outcome = "client_disconnected"
        assert served.metric("infertap_capture_records_total", outcome=outcome) == 1
        assert served.server.requests_count == 1  # the lane carried it
        # The pool's connection was closed with the request: the next one opens another and
        # is answered at once, not after the slow request.
        started = asyncio.get_running_loop().time()
        (answer,) = await exchanges(served.port, [WARM_UP])
        assert answer.status == 200 and asyncio.get_running_loop().time() - started < 2


async def test_a_graceful_stop_waits_for_a_lane_exchange_in_flight(
    upstream: Upstream, tmp_path: Path
) -> None:
    async with serving(upstream.url, tmp_path) as served:
        reader, writer = await in_flight(served, b"GET /slow?seconds=1 HTTP/1.1\r\nHost: h\r\n\r\n")
        pending = asyncio.ensure_future(read_answer(reader))
    # Leaving `serving` stopped the server: the answer came first.
    answer = await pending
    assert (answer.status, answer.body) == (200, b"slow")
    assert served.server.requests_count == 1
    writer.close()


async def test_a_graceful_stop_finishes_a_lane_exchange_handed_over_meanwhile(
    upstream: Upstream, tmp_path: Path
) -> None:
    """The stop starts while the upstream prepares a stream: the lane hands it over, and the
    handler task, kept for it, relays it whole before the connection closes."""
    stream = b"GET /stream?wait=1&chunks=2&delay=0 HTTP/1.1\r\nHost: h\r\n\r\n"
    loop = asyncio.get_running_loop()
    async with serving(upstream.url, tmp_path) as served:
        reader, writer = await in_flight(served, stream)
        pending = asyncio.ensure_future(read_answer(reader))
        stopping = loop.time()
    stopped = loop.time() - stopping
    answer = await pending
    assert (answer.status, answer.body) == (200, b"data: 0\n\ndata: 1\n\n")
    assert served.metric("infertap_requests_total", code="200") == 2
    assert served.metric("infertap_capture_records_total", outcome="captured") == 2
    assert stopped < 3  # not the shutdown timeout: the handler task told it was done
    writer.close()


async def test_a_lane_exchange_overrunning_a_graceful_stop_is_cut_and_counted_in_time(
    upstream: Upstream, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    slow = b"GET /slow?seconds=9 HTTP/1.1\r\nHost: h\r\n\r\n"
    async with serving(upstream.url, tmp_path, stop_within=2.0) as served:
        reader, writer = await in_flight(served, slow)
        stopping = loop.time()
    # The 2 s for requests, then delivery; not twice over (aiohttp also waits that long for its
    # idle handler task).
    assert loop.time() - stopping < 3.2
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert served.metric("infertap_requests_total", code="499") == 1
    assert served.metric("infertap_capture_records_total", outcome="client_disconnected") == 1
    assert served.server.requests_count == 1  # the lane had it
    writer.close()


async def test_requests_pipelined_past_the_queue_keep_their_upstream_timeout(
    upstream: Upstream, tmp_path: Path
) -> None:
    """Past aiohttp's queue of 32 the parser pauses, and an answer resumes it: the next request
    must not start on the upstream connection still inside its last answer's callback (its
    read timeout would be dropped when that callback ends)."""
    requests = [b"GET /echo?n=%d HTTP/1.1\r\nHost: h\r\n\r\n" % n for n in range(34)]
    requests[16] = b"GET /slow?seconds=3 HTTP/1.1\r\nHost: h\r\n\r\n"
    loop = asyncio.get_running_loop()
    async with serving(upstream.url, tmp_path, "--upstream-timeout", "0.5") as served:
        await exchanges(served.port, [WARM_UP])
        started = loop.time()
        answers = await exchanges(served.port, requests, pipelined=True)
        took = loop.time() - started
    assert [a.status for a in answers] == [504 if n == 16 else 200 for n in range(34)]
    assert [a.header("X-Received-Path") for a in answers[17:]] == [
        f"/echo?n={n}" for n in range(17, 34)
    ]
    assert took < 2.5, took


# -- any request, both paths: the same answer and the same request upstream -------------------

NAMES = [
    "Content-Type",
    "X-Custom",
    "x-custom",
    "Accept",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Proxy-Authorization",
    "Proxy-Foo",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Amzn-SageMaker-Inference-Id",
    "Authorization",
    "Expect",
]
VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12).map(str.strip)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 500]))
    query = draw(st.sampled_from(["", "&a=%2F", "&b=1&b=2"]))
    headers = draw(st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=6))
    if draw(st.booleans()):
        headers.append(
            ("Connection", draw(st.sampled_from(["keep-alive", "keep-alive, X-Custom"])))
        )
    body = draw(st.one_of(st.none(), st.binary(max_size=64)))
    lines = [f"{method} /echo?status={status}{query} HTTP/1.1", "Host: h"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body is None:
        data = b""
    elif draw(st.booleans()):
        lines.append(f"Content-Length: {len(body)}")
        data = body
    else:
        lines.append("Transfer-Encoding: chunked")
        data = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


@pytest.fixture(scope="module")
def both_paths(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paths]:
    """A sidecar with the lane and one without, served from a loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stack = AsyncExitStack()
    folder = tmp_path_factory.mktemp("paths")

    async def start() -> Paths:
        lane = await stack.enter_async_context(serving(upstream.url, folder / "lane"))
        handler = await stack.enter_async_context(
            serving(upstream.url, folder / "handler", lane=False)
        )
        return Paths(lane, handler, loop)

    yield asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@dataclass
class Paths:
    lane: Served
    handler: Served
    loop: asyncio.AbstractEventLoop

    def answers(self, served: Served, request: bytes) -> list[Answer]:
        """A warm-up, then `request` on the same kept connection (the lane's usual case)."""
        head_only = request.startswith(b"HEAD ")
        coroutine = exchange_pair(served.port, request, head_only)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)


async def exchange_pair(port: int, request: bytes, head_only: bool) -> list[Answer]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(WARM_UP)
        answers = [await read_answer(reader)]
        writer.write(request)
        if head_only:  # no body follows a HEAD answer's Content-Length
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            return [*answers, Answer(int(head.split(b" ")[1]), [], b"")]
        return [*answers, await read_answer(reader)]
    finally:
        writer.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=raw_requests())
def test_any_request_gets_the_same_answer_and_upstream_request_on_both_paths(
    both_paths: Paths, request: bytes
) -> None:
    lane = both_paths.answers(both_paths.lane, request)
    handler = both_paths.answers(both_paths.handler, request)
    assert lane == handler
