"""Nothing is lost: S3 outages, crashes that leave spool files behind, shutdown with S3 down."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from sidecar.common.layout import file_name, hour_of, parse_destination, partition_key
from sidecar.common.record import parse_record
from sidecar.delivery.sinks import S3Sink
from sidecar.delivery.spool import Spool, SpoolLockedError
from sidecar.delivery.uploader import Uploader, backoff_delay
from sidecar.metrics import SidecarMetrics
from tests.conftest import wait_until
from tests.sidecar.delivery_support import (
    KEY,
    PAST,
    bucket_objects,
    event_ids,
    eventually,
    file_size_limit,
    line,
    make_delivery,
    make_settings,
    metric,
    offer,
    spool_files,
    stop,
    upload_failures,
)
from tests.sidecar.tcp_switch import tcp_switch


def moto_port(s3_server: Any) -> int:
    port = urlparse(s3_server.endpoint_url).port
    assert isinstance(port, int)
    return port


async def test_s3_outage_then_recovery_delivers_each_record_once(
    s3_server: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tcp_switch(moto_port(s3_server)) as switch:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", switch.url)
        settings = make_settings(
            f"s3://{s3_bucket}/p", tmp_path / "spool", "--flush-interval", "0.1"
        )
        delivery, queue, metrics = make_delivery(settings)
        await delivery.start()
        client = s3_server.client()
        try:
            hour = hour_of(datetime.now(UTC))
            offer(queue, hour, "before-0")
            await eventually(lambda: bucket_objects(s3_bucket, client), what="first upload")

            switch.switch(False)
            ids = [f"during-{n}" for n in range(40)]
            for n, event_id in enumerate(ids):
                offer(queue, PAST + timedelta(hours=n % 3), event_id)
                if n % 10 == 9:  # several batches, so several files wait for S3
                    await eventually(lambda: len(queue) == 0)
            await eventually(
                lambda: upload_failures(metrics.registry) >= 3,
                what="failed uploads",
            )
            assert len(bucket_objects(s3_bucket, client)) == 1
            # The switch accepts and resets: a connection failure, told apart from a refusal.
            outcomes = {"outcome": "connection"}
            assert metric(metrics.registry, "infertap_uploads_total", outcomes) >= 3
            assert spool_files(tmp_path / "spool")

            switch.switch(True)
            await eventually(
                lambda: not spool_files(tmp_path / "spool"), seconds=15, what="spool drained"
            )
        finally:
            await stop(delivery)
    counts = event_ids(bucket_objects(s3_bucket, client).values())
    assert counts == {event_id: 1 for event_id in ["before-0", *ids]}
    assert switch.connections >= 1
    successes = metric(metrics.registry, "infertap_uploads_total", {"outcome": "success"})
    assert successes == metric(metrics.registry, "infertap_upload_duration_seconds_count")


async def test_a_store_that_never_answers_times_out_and_delivery_resumes(
    s3_server: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tcp_switch(moto_port(s3_server)) as switch:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", switch.url)
        switch.stall(True)
        settings = make_settings(
            f"s3://{s3_bucket}/p",
            tmp_path / "spool",
            "--flush-interval",
            "0.1",
            "--upload-timeout",
            "0.5",
            "--upload-max-backoff",
            "0.2",
        )
        delivery, queue, metrics = make_delivery(settings)
        await delivery.start()
        client = s3_server.client()
        try:
            ids = [f"stalled-{n}" for n in range(5)]
            for event_id in ids:
                offer(queue, PAST, event_id)
            await eventually(
                lambda: upload_failures(metrics.registry) >= 2,
                what="upload attempts timed out",
            )
            assert bucket_objects(s3_bucket, client) == {}

            switch.stall(False)
            await eventually(lambda: not spool_files(tmp_path / "spool"), what="delivery")
            delivered = event_ids(bucket_objects(s3_bucket, client).values())
            assert delivered == Counter(ids)
        finally:
            await stop(delivery)


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (3, 0.8), (6, 5.0), (500, 5.0)]:
        delays = [backoff_delay(attempt, cap=5.0) for _ in range(300)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread: jitter


def write_leftover(
    spool: Path, area: str, hour: datetime, ids: list[str], torn: bytes = b""
) -> str:
    key = f"{partition_key('ep', 'AllTraffic', hour)}/{file_name(datetime.now(UTC), uuid.uuid4())}"
    path = spool / area / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line(hour, i) for i in ids) + torn)
    return key


async def test_leftover_files_are_recovered_and_delivered(
    s3_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    spool, old = tmp_path / "spool", tmp_path / "old-worker"
    torn = line(PAST, "torn")[:-20]  # a crash in the middle of a record
    keys = [
        write_leftover(spool, "open", PAST, ["o1", "o2"], torn=torn),
        write_leftover(spool, "sealed", PAST + timedelta(hours=1), ["s1", "s2", "s3"]),
        write_leftover(old, "open", PAST, ["x1"]),
        write_leftover(old, "sealed", PAST, ["x2"]),
    ]
    write_leftover(spool, "open", PAST, [], torn=torn)  # nothing whole in it: removed
    stray = spool / "sealed" / "notes.jsonl"
    stray.write_bytes(b"not a capture file\n")
    settings = make_settings(f"s3://{s3_bucket}/p", spool)
    delivery, _, metrics = make_delivery(settings, recover_dirs=[old])
    await delivery.start()
    await stop(delivery)

    objects = bucket_objects(s3_bucket, s3_server.client())
    assert sorted(objects) == sorted(f"p/{key}" for key in keys)
    assert all(KEY.match(key) for key in objects)
    assert event_ids(objects.values()) == {i: 1 for i in ["o1", "o2", "s1", "s2", "s3", "x1", "x2"]}
    assert spool_files(spool) == [stray]  # an unknown file is left alone, not uploaded
    assert spool_files(old) == []
    assert metric(metrics.registry, "infertap_uploads_total", {"outcome": "success"}) == 4


async def test_stop_with_s3_down_keeps_files_for_next_start(
    s3_server: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    ids = [f"id-{n}" for n in range(30)]
    with tcp_switch(moto_port(s3_server)) as switch:
        switch.switch(False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", switch.url)
        settings = make_settings(f"s3://{s3_bucket}/p", spool, "--flush-interval", "60")
        delivery, queue, metrics = make_delivery(settings)
        await delivery.start()
        hour = hour_of(datetime.now(UTC))
        for event_id in ids:  # current hour, young files: only stop() seals them
            offer(queue, hour, event_id)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await delivery.stop(started + 0.5)
        assert loop.time() - started < 5  # the deadline is kept though S3 is unreachable
        assert upload_failures(metrics.registry) >= 1
        on_disk = spool_files(spool)
        assert on_disk and all("/sealed/" in str(p) for p in on_disk)
        assert event_ids(p.read_bytes() for p in on_disk) == {i: 1 for i in ids}

        switch.switch(True)
        again, _, _ = make_delivery(settings)
        await again.start()
        await stop(again)
    assert event_ids(bucket_objects(s3_bucket, s3_server.client()).values()) == {i: 1 for i in ids}
    assert spool_files(spool) == []


async def test_shutdown_cuts_a_long_back_off_short(
    s3_server: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool", "ep", "AllTraffic")
    spool.acquire()
    handle = spool.open_file(PAST, time.monotonic())
    spool.append(handle, line(PAST, "patient"))
    sealed = spool.seal(handle)
    assert sealed is not None
    metrics = SidecarMetrics()
    with tcp_switch(moto_port(s3_server)) as switch:
        switch.switch(False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", switch.url)
        sink = S3Sink(parse_destination(f"s3://{s3_bucket}/p"))
        await sink.open()
        # After one failure the wait is uniform in [0, 60] s: only hurry() makes 2 s likely.
        uploader = Uploader(sink, spool, metrics, max_backoff=60, first_backoff=60)
        uploader.start()
        uploader.submit(sealed)
        await eventually(lambda: upload_failures(metrics.registry) >= 1)
        switch.switch(True)
        uploader.hurry()
        delivered = await uploader.wait_idle(2)
        await uploader.stop()
        await sink.close()
    spool.release()
    assert delivered
    assert event_ids(bucket_objects(s3_bucket, s3_server.client()).values()) == {"patient": 1}


async def test_a_spool_folder_has_one_owner(tmp_path: Path) -> None:
    settings = make_settings(f"file://{tmp_path / 'out'}", tmp_path / "spool")
    first, _, _ = make_delivery(settings)
    await first.start()
    second, _, _ = make_delivery(settings)
    with pytest.raises(SpoolLockedError, match="--spool-dir"):
        await second.start()
    await stop(first)
    await second.start()  # free again once the first one stopped
    await stop(second)


def send_requests(sidecar: Any, ids: list[str]) -> None:
    for inference_id in ids:
        request = urllib.request.Request(
            sidecar.url + "/invocations",
            data=b"1,2,3\n",
            headers={"Content-Type": "text/csv", "X-Inference-Id": inference_id},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200


def spool_record_count(spool: Path) -> int:
    count = 0
    for path in spool_files(spool):
        with contextlib.suppress(FileNotFoundError):  # sealed and moved meanwhile
            count += path.read_bytes().count(b"\n")
    return count


def inference_ids(bodies: Iterable[bytes]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for body in bodies:
        for text in body.splitlines():
            counts[str(parse_record(text).inference_id)] += 1
    return counts


def test_sigkill_leaves_records_that_the_next_start_delivers(start_sidecar: Any) -> None:
    first = start_sidecar(flush_interval=60)
    ids = [f"kill-{n}" for n in range(20)]
    send_requests(first, ids)
    wait_until(lambda: spool_record_count(first.spool_dir) == 20, what="records on disk")
    first.kill()
    assert first.capture_files() == []  # nothing was sealed: all of it sat in open files

    second = start_sidecar(spool_dir=first.spool_dir, destination=first.destination)
    wait_until(lambda: len(first.capture_files()) >= 1 and not spool_files(first.spool_dir))
    delivered = [p.read_bytes() for p in first.capture_files()]
    assert inference_ids(delivered) == {i: 1 for i in ids}
    assert second.metric("infertap_uploads_total", outcome="success") >= 1
    second.terminate()
    assert second.wait() == 0


def test_sigterm_delivers_everything_within_the_grace_period(start_sidecar: Any) -> None:
    sidecar = start_sidecar(flush_interval=60, shutdown_grace=10)
    ids = [f"term-{n}" for n in range(30)]
    send_requests(sidecar, ids)
    started = time.monotonic()
    sidecar.terminate()
    assert sidecar.wait(timeout=15) == 0
    assert time.monotonic() - started < 10
    assert inference_ids(p.read_bytes() for p in sidecar.capture_files()) == {i: 1 for i in ids}
    assert spool_files(sidecar.spool_dir) == []


def test_sigterm_with_s3_down_keeps_files_for_the_next_start(
    start_sidecar: Any, s3_server: Any, s3_bucket: str
) -> None:
    ids = [f"down-{n}" for n in range(20)]
    with tcp_switch(moto_port(s3_server)) as switch:
        secret = "distinctive-secret-" + uuid.uuid4().hex
        env = {
            **s3_server.env(),
            "AWS_ENDPOINT_URL_S3": switch.url,
            "AWS_SECRET_ACCESS_KEY": secret,
        }
        flags = {"destination": f"s3://{s3_bucket}/capture", "upload_max_backoff": 0.2}
        first = start_sidecar(env=env, flush_interval=60, shutdown_grace=1, **flags)
        send_requests(first, ids)
        switch.switch(False)
        started = time.monotonic()
        first.terminate()
        assert first.wait(timeout=15) == 0
        assert time.monotonic() - started < 6  # the grace period holds though S3 is down
        sealed = spool_files(first.spool_dir)
        assert sealed and all("/sealed/" in str(p) for p in sealed)
        assert inference_ids(p.read_bytes() for p in sealed) == {i: 1 for i in ids}
        assert bucket_objects(s3_bucket, s3_server.client()) == {}
        failures = [r for r in first.log_records() if r["message"] == "capture file upload failed"]
        assert failures and failures[0]["level"] == "warning"
        assert failures[0]["destination"].startswith(f"s3://{s3_bucket}/capture/test-endpoint/")
        assert failures[0]["error"] and failures[0]["attempt"] == 1
        assert secret not in first.logs()

        switch.switch(True)
        second = start_sidecar(env=env, spool_dir=first.spool_dir, **flags)
        wait_until(lambda: not spool_files(first.spool_dir), what="spool delivered")
        second.terminate()
        assert second.wait() == 0
    objects = bucket_objects(s3_bucket, s3_server.client())
    assert all(KEY.match(key) and key.startswith("capture/test-endpoint/") for key in objects)
    assert inference_ids(objects.values()) == {i: 1 for i in ids}


async def test_write_errors_are_counted_and_other_files_go_on(
    s3_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    settings = make_settings(f"s3://{s3_bucket}/p", tmp_path / "spool")
    delivery, queue, metrics = make_delivery(settings)
    await delivery.start()
    limit = 1 << 20
    other = PAST + timedelta(hours=1)
    with file_size_limit(limit):  # past it the kernel refuses writes: a real disk error
        offer(queue, PAST, "too-big", filler=limit)
        for n in range(5):
            offer(queue, other, f"fine-{n}")
        await eventually(
            lambda: (
                metric(
                    metrics.registry, "infertap_capture_records_total", {"outcome": "write_error"}
                )
                == 1
            )
        )
    await stop(delivery)
    objects = bucket_objects(s3_bucket, s3_server.client())
    assert event_ids(objects.values()) == {f"fine-{n}": 1 for n in range(5)}
    assert all("/2026/01/01/06/" in key for key in objects)
    assert spool_files(tmp_path / "spool") == []
