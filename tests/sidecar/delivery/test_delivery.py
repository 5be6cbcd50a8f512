"""Delivery end to end in one process: queue -> spool -> moto S3 / a local folder."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from sidecar.common.layout import hour_of
from sidecar.common.record import parse_record
from sidecar.delivery.uploader import CONCURRENCY
from sidecar.delivery.writer import ENCODE_SLICE, ENCODE_SLICE_BYTES, encode_slices
from tests.sidecar.delivery_support import (
    KEY,
    PAST,
    bucket_objects,
    event_ids,
    eventually,
    exchange,
    folder_objects,
    line,
    make_delivery,
    make_settings,
    metric,
    offer,
    spool_files,
    stage,
    stop,
    upload_failures,
)


async def test_key_layout_and_hour_rollover(s3_server: Any, s3_bucket: str, tmp_path: Path) -> None:
    settings = make_settings(f"s3://{s3_bucket}/capture/prod", tmp_path / "spool")
    delivery, queue, metrics = make_delivery(settings)
    await delivery.start()
    hours = [PAST + timedelta(hours=n) for n in range(3)]
    expected: dict[datetime, set[str]] = {hour: set() for hour in hours}
    for n in range(90):  # interleaved: a record of hour H+1 between two of hour H
        hour = hours[n % 3]
        expected[hour].add(f"id-{n}")
        assert offer(queue, hour, f"id-{n}")
    await stop(delivery)

    objects = bucket_objects(s3_bucket, s3_server.client())
    assert objects
    seen: dict[datetime, set[str]] = {hour: set() for hour in hours}
    for key, body in objects.items():
        match = KEY.match(key)
        assert match, key
        assert (match["prefix"], match["endpoint"], match["variant"]) == (
            "capture/prod",
            "ep",
            "AllTraffic",
        )
        folder_hour = datetime(
            int(match["y"]), int(match["m"]), int(match["d"]), int(match["h"]), tzinfo=UTC
        )
        records = [parse_record(text) for text in body.splitlines()]
        assert {hour_of(r.inference_time) for r in records} == {folder_hour}  # one hour a file
        seen[folder_hour] |= {r.event_id for r in records}
    assert seen == expected
    assert sum(event_ids(objects.values()).values()) == 90
    assert metric(metrics.registry, "infertap_uploads_total", {"outcome": "success"}) == len(
        objects
    )
    assert metric(metrics.registry, "infertap_capture_bytes_total") == sum(
        len(b) for b in objects.values()
    )
    assert spool_files(tmp_path / "spool") == []
    assert metric(metrics.registry, "infertap_spool_files") == 0
    assert metric(metrics.registry, "infertap_spool_bytes") == 0
    assert metric(metrics.registry, "infertap_capture_queue_bytes") == 0


async def test_file_name_is_the_moment_the_file_was_opened(
    s3_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    settings = make_settings(f"s3://{s3_bucket}/p", tmp_path / "spool", "--flush-interval", "0.2")
    delivery, queue, _ = make_delivery(settings)
    await delivery.start()
    before = datetime.now(UTC)
    offer(queue, PAST, "only")
    await eventually(lambda: bucket_objects(s3_bucket, s3_server.client()), what="one object")
    after = datetime.now(UTC)
    await stop(delivery)
    (key,) = bucket_objects(s3_bucket, s3_server.client())
    match = KEY.match(key)
    assert match
    assert key.startswith("p/ep/AllTraffic/2026/01/01/05/")
    opened = int(match["mm"]) * 60_000 + int(match["ss"]) * 1000 + int(match["ms"])
    low = (before.minute * 60_000 + before.second * 1000 + before.microsecond // 1000) - 1
    high = after.minute * 60_000 + after.second * 1000 + after.microsecond // 1000
    assert low <= opened <= high or high < low  # (second form: the minute wrapped the hour)


async def test_seals_on_size(s3_server: Any, s3_bucket: str, tmp_path: Path) -> None:
    settings = make_settings(f"s3://{s3_bucket}/p", tmp_path / "spool", "--max-file-bytes", "2KiB")
    delivery, queue, _ = make_delivery(settings)
    await delivery.start()
    hour = hour_of(datetime.now(UTC))
    lines = [line(hour, f"id-{n}", filler=100) for n in range(60)]
    for n in range(60):
        offer(queue, hour, f"id-{n}", filler=100)
    await stop(delivery)
    objects = bucket_objects(s3_bucket, s3_server.client())
    assert all(len(body) <= 2048 for body in objects.values())
    assert len(objects) >= sum(map(len, lines)) // 2048 + 1
    counts = event_ids(objects.values())
    assert set(counts.values()) == {1} and len(counts) == 60


async def test_seals_on_age_while_running(s3_server: Any, s3_bucket: str, tmp_path: Path) -> None:
    settings = make_settings(f"s3://{s3_bucket}/p", tmp_path / "spool", "--flush-interval", "0.3")
    delivery, queue, _ = make_delivery(settings)
    await delivery.start()
    try:
        hour = hour_of(datetime.now(UTC))
        offer(queue, hour, "first")
        await eventually(
            lambda: bucket_objects(s3_bucket, s3_server.client()), seconds=5, what="aged file"
        )
        offer(queue, hour, "second")
        await eventually(lambda: len(bucket_objects(s3_bucket, s3_server.client())) == 2, seconds=5)
    finally:
        await stop(delivery)
    objects = bucket_objects(s3_bucket, s3_server.client())
    assert sorted(event_ids(objects.values())) == ["first", "second"]


async def test_next_hour_record_keeps_current_hour_file_open(
    s3_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    settings = make_settings(f"s3://{s3_bucket}/p", spool, "--flush-interval", "30")
    delivery, queue, metrics = make_delivery(settings)
    await delivery.start()
    now = hour_of(datetime.now(UTC))
    offer(queue, now, "this-hour")
    offer(queue, now + timedelta(hours=1), "next-hour")
    await eventually(lambda: len(list((spool / "open").rglob("*.jsonl"))) == 2, seconds=5)
    offer(queue, now, "late-this-hour")  # goes to the same, still open file
    await eventually(lambda: metric(metrics.registry, "infertap_capture_bytes_total") > 0)
    await eventually(lambda: len(queue) == 0)
    assert list((spool / "sealed").rglob("*.jsonl")) == []
    await stop(delivery)
    objects = bucket_objects(s3_bucket, s3_server.client())
    assert len(objects) == 2
    by_hour = {KEY.match(k)["h"]: event_ids([b]) for k, b in objects.items()}  # type: ignore[index]
    assert sorted(by_hour[f"{now.hour:02d}"]) == ["late-this-hour", "this-hour"]


async def test_local_folder_sink_same_layout(tmp_path: Path) -> None:
    out = tmp_path / "out"
    settings = make_settings(f"file://{out}", tmp_path / "spool")
    delivery, queue, metrics = make_delivery(settings)
    await delivery.start()
    for n in range(10):
        offer(queue, PAST + timedelta(hours=n % 2), f"id-{n}")
    await stop(delivery)
    files = folder_objects(out)
    assert len(files) == 2  # no temporary files left behind
    for key in files:
        assert KEY.match(f"{out}/{key}".lstrip("/")), key
        assert key.startswith(("ep/AllTraffic/2026/01/01/05/", "ep/AllTraffic/2026/01/01/06/"))
    assert len(event_ids(files.values())) == 10
    assert metric(metrics.registry, "infertap_uploads_total", {"outcome": "success"}) == 2


async def test_spool_cap_drops_are_counted(s3_server: Any, s3_bucket: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    one = len(line(PAST, "id-00"))
    settings = make_settings(
        "s3://no-such-bucket-here/p", spool, "--spool-max-bytes", str(one * 10)
    )  # deliveries fail (no bucket), so the spool only fills
    delivery, queue, metrics = make_delivery(settings)
    await delivery.start()
    for n in range(25):
        offer(queue, PAST, f"id-{n:02d}")
    await eventually(lambda: len(queue) == 0 and spool_files(spool))
    await eventually(lambda: upload_failures(metrics.registry) >= 1)
    await stop(delivery, seconds=0.2)
    kept = event_ids(p.read_bytes() for p in spool_files(spool))
    dropped = metric(metrics.registry, "infertap_capture_records_total", {"outcome": "spool_full"})
    captured = metric(metrics.registry, "infertap_capture_records_total", {"outcome": "captured"})
    assert sum(kept.values()) == 10
    assert dropped == 15
    assert captured == 10  # each record counted once: in a spool file, or dropped
    assert metric(metrics.registry, "infertap_spool_bytes") == one * 10


async def test_uploads_run_in_parallel_but_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3-compatible endpoint that holds every PUT until let go: with twelve files waiting,
    exactly CONCURRENCY uploads are in flight at once, then all complete."""
    in_flight, peak, keys = 0, 0, []
    gate = asyncio.Event()

    async def put(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        await request.read()
        in_flight += 1
        peak = max(peak, in_flight)
        async with asyncio.timeout(10):
            await gate.wait()
        in_flight -= 1
        keys.append(request.path)
        return web.Response(headers={"ETag": '"0"'})

    app = web.Application()
    app.router.add_put("/{tail:.*}", put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        settings = make_settings("s3://bucket/p", tmp_path / "spool")
        delivery, queue, _ = make_delivery(settings)
        await delivery.start()
        for n in range(12):  # twelve hours, so twelve files at once
            hour = PAST + timedelta(hours=n)
            offer(queue, hour, f"id-{n}")
        stopping = asyncio.create_task(stop(delivery))
        # Every file is sealed and submitted, and the store holds as many PUTs as may run.
        await eventually(
            lambda: delivery.uploader.outstanding == 12 and in_flight == CONCURRENCY,
            what=f"{CONCURRENCY} uploads held with twelve files submitted",
        )
        gate.set()
        await stopping
    finally:
        gate.set()
        await runner.cleanup()
    assert len(keys) == 12
    assert peak == CONCURRENCY


@given(
    records=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2500)), min_size=1, max_size=60),
    batches=st.integers(1, 4),
)
@examples(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_files_respect_size_and_hour_whatever_the_batches(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[int, int]], batches: int
) -> None:
    base = tmp_path_factory.mktemp("prop")
    limit = 2048
    flags = ("--max-file-bytes", str(limit), "--flush-interval", "60")
    config = make_settings(f"file://{base / 'out'}", base / "spool", *flags)
    offered = [
        exchange(PAST + timedelta(hours=h), f"id-{n}", filler=size)
        for n, (h, size) in enumerate(records)
    ]

    async def run() -> None:
        delivery, queue, _ = make_delivery(config)
        await delivery.start()
        step = -(-len(offered) // batches)
        for start in range(0, len(offered), step):
            for item in offered[start : start + step]:
                assert stage(queue, item)
            await eventually(lambda: len(queue) == 0)
        await stop(delivery)

    asyncio.run(run())
    files = folder_objects(base / "out")
    order = {f"id-{n}": n for n in range(len(offered))}
    for key, body in files.items():
        lines = body.splitlines(keepends=True)
        assert len(body) <= limit or len(lines) == 1  # only a single huge record may exceed
        hours = {hour_of(parse_record(text).inference_time) for text in lines}
        assert len(hours) == 1 and key.startswith(f"ep/AllTraffic/{next(iter(hours)):%Y/%m/%d/%H}/")
        positions = [order[parse_record(text).event_id] for text in lines]
        assert positions == sorted(positions)  # a file keeps the order records arrived in
    assert sorted(event_ids(files.values()).elements()) == sorted(order)


async def test_a_large_batch_is_encoded_between_turns_of_the_event_loop(tmp_path: Path) -> None:
    """The writer encodes on the event loop a few records at a time: requests served meanwhile
    never wait for a whole batch (40000 records take ~0.1 s to encode), and the batch still
    lands in one file per hour."""
    records = 40000
    out = tmp_path / "out"
    limits = ("--queue-max-bytes", "64MiB", "--max-file-bytes", "1GiB")
    settings = make_settings(f"file://{out}", tmp_path / "spool", *limits)
    delivery, queue, metrics = make_delivery(settings)
    for n in range(records):
        offer(queue, PAST, f"id-{n}")
    loop = asyncio.get_running_loop()
    longest, turns = 0.0, 0

    async def serve_requests_meanwhile() -> None:
        nonlocal longest, turns
        last = loop.time()
        while True:
            await asyncio.sleep(0)
            now = loop.time()
            longest, last, turns = max(longest, now - last), now, turns + 1

    meanwhile = asyncio.ensure_future(serve_requests_meanwhile())
    started = loop.time()
    await delivery.start()
    await eventually(
        lambda: (
            metric(metrics.registry, "infertap_capture_records_total", {"outcome": "captured"})
            == records
        )
    )
    took = loop.time() - started
    meanwhile.cancel()
    await stop(delivery)
    assert len(folder_objects(out)) == 1
    # Every slice gave the loop a turn: never a gap near the time the whole batch took.
    assert turns > records // 8 and longest < took / 4, (turns, longest, took)


@given(sizes=st.lists(st.integers(0, 200_000), max_size=40))
@examples(max_examples=60, deadline=None)
def test_encode_slices_keep_order_and_bound_count_and_body_bytes(sizes: list[int]) -> None:
    exchanges = [exchange(PAST, f"id-{n}", filler=size) for n, size in enumerate(sizes)]
    slices = list(encode_slices(exchanges))
    assert [e for piece in slices for e in piece] == exchanges
    for piece in slices:
        body = sum(len(e.request_body) + len(e.response_body) for e in piece)
        assert piece and len(piece) <= ENCODE_SLICE
        assert body <= ENCODE_SLICE_BYTES or len(piece) == 1
