"""Sorting py-spy's sampled stacks into the layers of the sidecar's request path.

A stack's CPU goes to the layer of its innermost frame that belongs to a named layer (a frame in
builtins or libc counts for the caller that made the call), so "aiohttp server" is what aiohttp's
server code costs including the C calls it makes; socket I/O and the event loop are layers of
their own, since nginx pays them too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# (layer, pattern on the frame's file or native module): first match wins, so order matters.
# Native frames (py-spy --native) look like `uv__read (stream.c)` or `write (libc.so.6)`.
LAYERS: tuple[tuple[str, str], ...] = (
    ("capture", r"sidecar/(capture|delivery|common)/|orjson"),
    ("metrics", r"sidecar/metrics|prometheus_client"),
    ("our handler", r"sidecar/"),
    ("header multidicts", r"multidict"),
    (
        "timers (per-request timeouts)",
        r"aiohttp/helpers|asyncio/timeouts|TimerHandle|call_at|call_later|_reschedule_timeout"
        r"|start_timeout|\(timer\.c",
    ),
    (
        "aiohttp client (response protocol, connector)",
        r"aiohttp/(client|connector|tracing)|HttpResponseParser",
    ),
    ("aiohttp payload streams", r"aiohttp/streams"),
    (
        "aiohttp server (protocol, request/response objects, writer, parser)",
        r"aiohttp/|_http_parser|_http_writer|_helpers_c",
    ),
    ("yarl", r"yarl"),
    ("logging", r"logging/"),
    (
        "socket syscalls",
        r"^(write|read|writev|sendmsg|recvmsg|sendto|recvfrom|send|recv|__libc_\w+) \(",
    ),
    (
        "event loop (uvloop, asyncio tasks)",
        r"uvloop|asyncio/|_asyncio|\((loop|core|stream|linux|handles|tcp|queue|loop-watcher"
        r"|idle|cbhandles|server|handle|uv-common)\.(c|h|pyx)",
    ),
)
# A sample whose innermost frame is a blocking wait is idle time, not CPU: py-spy's --native
# mode does not tell idle threads apart (its Python-only mode does).
IDLE = re.compile(
    r"^(epoll_pwait|epoll_wait|poll|select|sem_clockwait|sem_wait|pthread_cond\w*|time_sleep"
    r"|PyThread_acquire_lock\w*) \("
)
UNCLASSIFIED = "other (interpreter, stdlib)"
# Pieces of the request path a lean path would replace: the stacks through a frame matching the
# first pattern and none matching the second (inclusive, socket syscalls left out since every
# proxy pays them); they overlap.
PIECES: tuple[tuple[str, str, str | None], ...] = (
    ("request parse: RequestHandler.data_received", r"^RequestHandler\.data_received", None),
    (
        "per-request framing: RequestHandler.start/_handle_request/finish_response, its Task",
        r"^RequestHandler\.(start|_handle_request|finish_response) |^task_step",
        r"^(Proxy|Writer)\.",
    ),
    (
        "response out: web.Response, prepare, write_eof, StreamWriter",
        r"^(_prepare \(sidecar|Response\.(__init__|write_eof)"
        r"|StreamResponse\.(__init__|write_eof|prepare))",
        None,
    ),
    (
        "upstream send: UpstreamPool.request/send/head, header copies",
        r"^(UpstreamPool\.(request|send|head|head_of)|request_lines|Proxy\._upstream_headers"
        r"|end_to_end) ",
        r"^ResponseHandler\.data_received",
    ),
    (
        "upstream parse: ResponseHandler.data_received",
        r"^ResponseHandler\.data_received",
        None,
    ),
    ("aiohttp C parser (both directions, with callbacks)", r"^feed_data \(_http_parser", None),
    (
        "fast lane: its exchanges from request to answer (fast_lane.py, inclusive)",
        r"^(FastLane|LaneExchange)\.",
        None,
    ),
    (
        "StreamReader payloads: create, feed, read, resume_reading",
        r"^(StreamReader\.|BaseProtocol\.resume_reading|ResponseHandler\.resume_reading)",
        None,
    ),
    (
        "timers: call_at/cancel, head timer, read timeout",
        r"call_at|call_later|TimerHandle|_reschedule_timeout|start_timeout|_head_timer"
        r"|_process_keepalive",
        None,
    ),
    (
        "metrics: Ledger.count, observe, inc",
        r"_count_request|Ledger\.(count|upstream_answered)|Histogram\.observe|Counter\.inc"
        r"|MutexValue",
        None,
    ),
    (
        "capture: policy, stage, writer and its encoder",
        r"^(Sampler|Capturer|CaptureQueue|Writer|RecordEncoder|Spool|CapturePolicy)\."
        r"|^(Proxy\._stage|Ledger\.(stage|keep_request))"
        r"|sidecar/(capture|delivery)/",
        None,
    ),
    ("garbage collector", r"gc_collect", None),
)
_SYSCALL = re.compile(r"^(write|read|writev|sendmsg|recvmsg) \(libc")
# py-spy's collapsed frame: `function (file)` or `function (file:line)`.
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def layer_of(frame: str) -> str | None:
    for name, pattern in LAYERS:
        if re.search(pattern, frame):
            return name
    return None


def short(frame: str) -> str:
    """`function (path/to/site-packages/pkg/mod.py)` as `function (pkg/mod.py)`."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3.", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = path.split("/", 1)[-1]
    return f"{match.group('function')} ({path})"


@dataclass
class Profile:
    """Sample counts from py-spy's collapsed stacks ("frame;frame;...;leaf COUNT")."""

    samples: int = 0
    idle: int = 0
    by_thread: Counter[str] = field(default_factory=Counter)
    self_frames: Counter[str] = field(default_factory=Counter)
    cumulative_frames: Counter[str] = field(default_factory=Counter)
    layers: Counter[str] = field(default_factory=Counter)
    pieces: Counter[str] = field(default_factory=Counter)

    def add(self, stack: list[str], count: int) -> None:
        self.samples += count
        # With --threads the root frame names the thread.
        if stack and stack[0].startswith("thread ("):
            self.by_thread[stack[0]] += count
            stack = stack[1:]
        if not stack or _idle(stack):
            self.idle += count
            return
        self.self_frames[short(stack[-1])] += count
        frames = {short(f) for f in stack}
        for frame in frames:
            self.cumulative_frames[frame] += count
        if not _SYSCALL.match(stack[-1]):
            for name, pattern, unless in PIECES:
                if any(re.search(pattern, f) for f in frames) and not (
                    unless and any(re.search(unless, f) for f in frames)
                ):
                    self.pieces[name] += count
        for frame in reversed(stack):
            layer = layer_of(frame)
            if layer is not None:
                self.layers[layer] += count
                return
        self.layers[UNCLASSIFIED] += count


def _idle(stack: list[str]) -> bool:
    """A wait: the leaf is a blocking call, or anonymous libc frames under one (a lock wait in
    the writer thread or the executor's workers, a sleep)."""
    for frame in reversed(stack[-4:]):
        if IDLE.match(frame):
            return True
        if "(libc.so" not in frame:
            return False
    return False


def parse_collapsed(lines: Iterable[str]) -> Profile:
    profile = Profile()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            profile.add(stack.split(";"), int(count))
    return profile


# Inlined reference-count helpers and anonymous addresses say nothing in a cumulative listing.
_PLUMBING = re.compile(r"^(Py_X?DECREF|Py_INCREF|0x[0-9a-f]+) \(")


def top(counter: Counter[str], total: int, n: int) -> Iterator[tuple[str, int, float]]:
    for frame, count in counter.most_common(n):
        yield frame, count, count / total if total else 0.0


def top_cumulative(profile: Profile, total: int, n: int) -> Iterator[tuple[str, int, float]]:
    """The top cumulative frames without the loop's root chain (present in nearly every sample)
    and without reference-count plumbing."""
    shown = 0
    for frame, count in profile.cumulative_frames.most_common():
        if shown == n:
            return
        if count >= 0.97 * total or _PLUMBING.match(frame):
            continue
        shown += 1
        yield frame, count, count / total if total else 0.0
