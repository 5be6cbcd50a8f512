"""Fault injection against a running sidecar: a store refusing, hanging or answering errors, a
destination turning read-only, a full spool, SIGKILL while writing.

Each test checks, from the admin /metrics and what is in the bucket, folder and spool, that every
sampled exchange is delivered, on disk or counted as dropped (fault_support.assert_conserved),
that the failure shows in `infertap_uploads_total{outcome}`, and that peak RSS stays bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import wait_until
from tests.sidecar.conftest import SidecarProcess, Upstream, launch_sidecar
from tests.sidecar.delivery_support import bucket_objects, spool_files
from tests.sidecar.fault_support import (
    MIB,
    assert_conserved,
    assert_memory_bounded,
    faulty_s3,
    ids_in,
    ledger,
    prefill_sealed,
    proc_status_bytes,
    read_only,
    send,
    spool_ids,
)
from tests.sidecar.tcp_switch import tcp_switch

QUEUE_MAX = 4 * MIB
FAST: dict[str, Any] = {"upload_max_backoff": 0.05, "queue_max_bytes": "4MiB", "log_level": "error"}


@pytest.fixture(scope="module")
def idle_rss(
    upstream: Upstream, s3_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """RSS of a sidecar that has delivered one file to S3 and has nothing left to do."""
    bucket = "idle-reference"
    s3_server.client().create_bucket(Bucket=bucket)
    sidecar = launch_sidecar(
        upstream.url,
        tmp_path_factory.mktemp("idle"),
        env=s3_server.env(),
        destination=f"s3://{bucket}/capture",
        **FAST,
    )
    try:
        send(sidecar, ["warm-up"])
        wait_until(lambda: bucket_objects(bucket, s3_server.client()), what="warm-up upload")
        yield proc_status_bytes(sidecar.pid, "VmRSS")
    finally:
        sidecar.kill()


def s3_env(s3_server: Any, url: str) -> dict[str, str]:
    return {**s3_server.env(), "AWS_ENDPOINT_URL_S3": url}


def moto_port(s3_server: Any) -> int:
    port = urlparse(s3_server.endpoint_url).port
    assert isinstance(port, int)
    return port


def delivered_to(bucket: str, s3_server: Any) -> list[bytes]:
    return list(bucket_objects(bucket, s3_server.client()).values())


def uploads(sidecar: SidecarProcess, outcome: str) -> float:
    return sidecar.metric("infertap_uploads_total", outcome=outcome)


def test_s3_refusing_with_a_full_spool_keeps_memory_bounded(
    start_sidecar: Any, s3_server: Any, s3_bucket: str, tmp_path: Path, idle_rss: int
) -> None:
    """Each failed attempt once left a copy of the file in memory: RSS grew past a gigabyte."""
    spool = tmp_path / "spool"
    inherited = prefill_sealed(spool, files=4, file_bytes=8 * MIB, prefix="waiting")
    with tcp_switch(moto_port(s3_server)) as switch:
        switch.refuse(True)
        sidecar = start_sidecar(
            env=s3_env(s3_server, switch.url),
            destination=f"s3://{s3_bucket}/capture",
            spool_dir=spool,
            **FAST,
        )
        ids = send(sidecar, [f"refused-{n}" for n in range(20)])
        # Some 800 MB of failed attempts on four 8 MiB files.
        wait_until(lambda: uploads(sidecar, "refused") >= 100, timeout=30, what="refusals")
        assert_memory_bounded(sidecar, idle_rss, QUEUE_MAX)
        assert uploads(sidecar, "success") == 0
        wait_until(lambda: ledger(sidecar, [], inherited).balances(len(ids) + inherited))
        assert_conserved(sidecar, len(ids), [], inherited)

        switch.refuse(False)
        wait_until(lambda: not spool_files(spool), timeout=30, what="spool delivered")
    assert_conserved(sidecar, len(ids), delivered_to(s3_bucket, s3_server), inherited)
    assert_memory_bounded(sidecar, idle_rss, QUEUE_MAX)


def test_s3_hanging_times_out_and_nothing_is_lost(
    start_sidecar: Any, s3_server: Any, s3_bucket: str, tmp_path: Path, idle_rss: int
) -> None:
    spool = tmp_path / "spool"
    inherited = prefill_sealed(spool, files=2, file_bytes=8 * MIB, prefix="waiting")
    with tcp_switch(moto_port(s3_server)) as switch:
        switch.stall(True)
        sidecar = start_sidecar(
            env=s3_env(s3_server, switch.url),
            destination=f"s3://{s3_bucket}/capture",
            spool_dir=spool,
            upload_timeout=0.3,
            **FAST,
        )
        ids = send(sidecar, [f"hang-{n}" for n in range(20)])
        wait_until(lambda: uploads(sidecar, "timeout") >= 8, timeout=15, what="timeouts")
        assert_memory_bounded(sidecar, idle_rss, QUEUE_MAX)
        wait_until(lambda: ledger(sidecar, [], inherited).balances(len(ids) + inherited))
        assert_conserved(sidecar, len(ids), [], inherited)

        switch.stall(False)
        wait_until(lambda: not spool_files(spool), timeout=20, what="delivery")
    assert_conserved(sidecar, len(ids), delivered_to(s3_bucket, s3_server), inherited)
    assert_memory_bounded(sidecar, idle_rss, QUEUE_MAX)


def test_s3_error_answers_are_retried_and_counted(
    start_sidecar: Any, s3_server: Any, s3_bucket: str, idle_rss: int
) -> None:
    with faulty_s3(s3_server.endpoint_url) as store:
        store.fail_with((500, "InternalError"), (503, "SlowDown"), (503, "ServiceUnavailable"))
        sidecar = start_sidecar(
            env=s3_env(s3_server, store.url), destination=f"s3://{s3_bucket}/capture", **FAST
        )
        ids = send(sidecar, [f"slow-down-{n}" for n in range(20)])
        wait_until(lambda: uploads(sidecar, "http_error") >= 6, timeout=15, what="error answers")
        assert store.answered[500] >= 2 and store.answered[503] >= 4
        wait_until(lambda: ledger(sidecar, []).balances(len(ids)))
        assert_conserved(sidecar, len(ids), [])

        store.fail_with()
        wait_until(lambda: not spool_files(sidecar.spool_dir), timeout=15, what="delivery")
    assert_conserved(sidecar, len(ids), delivered_to(s3_bucket, s3_server))
    assert uploads(sidecar, "success") >= 1
    assert_memory_bounded(sidecar, idle_rss, QUEUE_MAX)


def delivered_files(sidecar: SidecarProcess) -> list[bytes]:
    return [p.read_bytes() for p in sidecar.capture_files()]


def test_local_destination_turning_read_only_keeps_files_in_the_spool(
    start_sidecar: Any, idle_rss: int
) -> None:
    sidecar = start_sidecar(**FAST)
    ids = send(sidecar, [f"before-{n}" for n in range(10)])
    wait_until(lambda: sum(ids_in(delivered_files(sidecar)).values()) == 10, what="delivery")
    with read_only(sidecar.destination):
        ids += send(sidecar, [f"read-only-{n}" for n in range(10)])
        wait_until(lambda: uploads(sidecar, "error") >= 2, what="failed deliveries")
        wait_until(lambda: ledger(sidecar, delivered_files(sidecar)).balances(len(ids)))
        books = assert_conserved(sidecar, len(ids), delivered_files(sidecar))
        assert sum(books.on_disk.values()) == 10
    wait_until(lambda: not spool_files(sidecar.spool_dir), what="delivery once writable")
    assert_conserved(sidecar, len(ids), delivered_files(sidecar))
    assert_memory_bounded(sidecar, idle_rss, QUEUE_MAX)


def test_a_full_spool_drops_and_counts_then_delivers_the_rest(
    start_sidecar: Any, s3_server: Any, s3_bucket: str, idle_rss: int
) -> None:
    with tcp_switch(moto_port(s3_server)) as switch:
        switch.refuse(True)
        sidecar = start_sidecar(
            env=s3_env(s3_server, switch.url),
            destination=f"s3://{s3_bucket}/capture",
            spool_max_bytes="64KiB",
            **FAST,
        )
        body = b"1," * 2000 + b"1\n"  # about 4 KiB a record: 60 of them do not fit
        ids = send(sidecar, [f"full-{n}" for n in range(60)], body=body)
        wait_until(lambda: uploads(sidecar, "refused") >= 1, what="a refused upload")
        wait_until(lambda: ledger(sidecar, []).balances(len(ids)), what="records placed")
        books = assert_conserved(sidecar, len(ids), [])
        assert books.drops.get("spool_full", 0) > 0 and books.on_disk

        switch.refuse(False)
        wait_until(lambda: not spool_files(sidecar.spool_dir), timeout=15, what="delivery")
    books = assert_conserved(sidecar, len(ids), delivered_to(s3_bucket, s3_server))
    assert books.delivered
    assert_memory_bounded(sidecar, idle_rss, QUEUE_MAX)


def test_sigkill_while_writing_then_restart_delivers_every_whole_record(
    start_sidecar: Any, idle_rss: int
) -> None:
    first = start_sidecar(flush_interval=60, **FAST)
    answered: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        body = b"7," * 8000 + b"7\n"
        n = 0
        while not stop.is_set():
            try:
                answered.extend(send(first, [f"kill-{n}"], body=body))
            except OSError:  # the sidecar was killed mid-request
                return
            n += 1

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        wait_until(lambda: sum(spool_ids(first.spool_dir).values()) >= 100, what="writes")
        assert_memory_bounded(first, idle_rss, QUEUE_MAX)
        first.kill()
    finally:
        stop.set()
        sender.join(timeout=15)
    on_disk = spool_ids(first.spool_dir)  # whole lines only: a torn last one is cut at start
    assert on_disk and set(on_disk) <= set(answered) | {f"kill-{len(answered)}"}

    second = start_sidecar(spool_dir=first.spool_dir, destination=first.destination, **FAST)
    wait_until(lambda: not spool_files(first.spool_dir), what="recovered files delivered")
    assert_conserved(second, 0, delivered_files(second), inherited=sum(on_disk.values()))
    assert ids_in(delivered_files(second)) == on_disk
    second.terminate()
    assert second.wait() == 0
