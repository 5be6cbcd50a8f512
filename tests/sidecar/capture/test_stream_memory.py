"""Memory with many streams in flight: the capture copies of exchanges not yet staged share one
budget (--capture-inflight-bytes), so capture adds at most --queue-max-bytes + that budget to
what forwarding holds, as the README states; what the budget refuses is counted
(`inflight_full`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp

from tests.conftest import wait_until
from tests.sidecar.conftest import SidecarProcess, StartSidecar, Upstream
from tests.sidecar.fault_support import MIB, proc_status_bytes

STREAMS = 150
EVENT_BYTES = 600_000
QUEUE = 4 * MIB
BUDGET = 32 * MIB  # --capture-inflight-bytes' default
# Between two runs the forwarding buffers' peak varies by a few MiB.
MARGIN = 16 * MIB


async def _first_events(url: str, hold: str) -> list[tuple[aiohttp.ClientResponse, int]]:
    """Open every stream and read its first (large) event; the upstream then holds them all."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def one() -> tuple[aiohttp.ClientResponse, int]:
        response = await session.post(
            f"{url}/stream?chunks=2&bytes={EVENT_BYTES}&hold={hold}", data=b"{}"
        )
        received = 0
        while received < EVENT_BYTES:
            chunk = await response.content.read(1 << 16)
            assert chunk, "the stream ended before its first event"
            received += len(chunk)
        return response, received

    opened = await asyncio.gather(*(one() for _ in range(STREAMS)))
    opened[0][0]._session_for_test = session  # type: ignore[attr-defined]
    return opened


async def _finish(opened: list[tuple[aiohttp.ClientResponse, int]], release: str) -> None:
    session: aiohttp.ClientSession = opened[0][0]._session_for_test  # type: ignore[attr-defined]
    async with session.post(release) as answer:
        assert answer.status == 200
    for response, _ in opened:
        await response.read()
        response.release()
    await session.close()


def _peak_with_streams(sidecar: SidecarProcess, upstream: Upstream) -> tuple[int, int]:
    """(idle RSS, peak RSS once STREAMS streams have been in flight through `sidecar`)."""
    wait_until(lambda: sidecar.metric("infertap_capture_queue_bytes") == 0, what="idle")
    idle = proc_status_bytes(sidecar.pid, "VmRSS")
    hold = uuid.uuid4().hex

    async def run() -> None:
        opened = await _first_events(sidecar.url, hold)
        await _finish(opened, f"{upstream.url}/release/{hold}")

    asyncio.run(run())
    return idle, proc_status_bytes(sidecar.pid, "VmHWM")


def test_streams_in_flight_stay_within_the_stated_bound(
    start_sidecar: StartSidecar, upstream: Upstream
) -> None:
    """Side by side with capture off (forwarding holds the same there): capture adds at most
    --queue-max-bytes + the in-flight budget (+ a margin), however many streams are in flight."""
    off = _peak_with_streams(start_sidecar(sampling_percentage=0), upstream)
    sidecar = start_sidecar(queue_max_bytes="4MiB")
    full = _peak_with_streams(sidecar, upstream)
    added = (full[1] - full[0]) - (off[1] - off[0])
    assert added <= QUEUE + BUDGET + MARGIN, (
        f"capture added {added / MIB:.1f} MiB at the peak with {STREAMS} streams in flight "
        f"(capture off: {off[0] / MIB:.1f} -> {off[1] / MIB:.1f} MiB, 100 %: "
        f"{full[0] / MIB:.1f} -> {full[1] / MIB:.1f} MiB)"
    )
    outcomes = ("captured", "queue_full", "inflight_full", "too_large")

    def counted() -> dict[str, float]:
        return {o: sidecar.metric("infertap_capture_records_total", outcome=o) for o in outcomes}

    wait_until(lambda: sum(counted().values()) == STREAMS, timeout=30, what="every outcome")
    assert counted()["inflight_full"] > 0, counted()
    assert sidecar.metric("infertap_requests_total", code="200") == STREAMS


def test_a_streamed_request_body_past_the_budget_drops_its_copy(
    start_sidecar: StartSidecar,
) -> None:
    """The tee's copy of a streamed request body counts against the budget too: forwarded whole,
    not captured, counted inflight_full."""
    sidecar = start_sidecar(max_capture_bytes="4MiB", capture_inflight_bytes="1MiB")
    body = b"1," * MIB  # 2 MiB, sent chunked: streamed through the tee

    async def send() -> tuple[int, bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 1 << 16):
                yield body[start : start + (1 << 16)]

        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{sidecar.url}/echo", data=chunks()) as response,
        ):
            return response.status, await response.read()

    status, echoed = asyncio.run(send())
    assert (status, echoed) == (200, body)
    wait_until(
        lambda: sidecar.metric("infertap_capture_records_total", outcome="inflight_full") == 1,
        what="the exchange counted inflight_full",
    )
    assert sidecar.metric("infertap_capture_records_total", outcome="too_large") == 0


def test_a_stream_past_the_capture_limit_is_too_large_not_over_budget(
    start_sidecar: StartSidecar, upstream: Upstream
) -> None:
    """Once a stream's copy is past --max-capture-bytes nothing more is held, so nothing more is
    charged to the budget: it is counted too_large."""
    sidecar = start_sidecar(max_capture_bytes="64KiB", capture_inflight_bytes="256KiB")
    hold = uuid.uuid4().hex

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            await session.post(f"{upstream.url}/release/{hold}")  # never held
            url = f"{sidecar.url}/stream?chunks=2&bytes={EVENT_BYTES}&hold={hold}"
            async with session.post(url, data=b"{}") as response:
                assert len(await response.read()) > EVENT_BYTES

    asyncio.run(run())
    wait_until(
        lambda: sidecar.metric("infertap_capture_records_total", outcome="too_large") == 1,
        what="the stream counted too_large",
    )
    assert sidecar.metric("infertap_capture_records_total", outcome="inflight_full") == 0
