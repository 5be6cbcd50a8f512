"""Helpers for the delivery tests: settings, capture lines with known ids, reading what arrived."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from sidecar.capture.queue import CaptureQueue
from sidecar.common.exchange import BOTH_SIDES, Exchange
from sidecar.common.record import Payload, RecordEncoder, build_record, parse_record
from sidecar.delivery.service import Delivery
from sidecar.metrics import UPLOAD_OUTCOMES, UPLOAD_SUCCESS, SidecarMetrics
from sidecar.settings import Settings, parse_settings

PAST = datetime(2026, 1, 1, 5, tzinfo=UTC)  # hours long over: their files seal at once
KEY = re.compile(
    r"^(?P<prefix>.+)/(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/"
    r"(?P<mm>\d{2})-(?P<ss>\d{2})-(?P<ms>\d{3})-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl$"
)


def make_settings(destination: str, spool: Path, *flags: str) -> Settings:
    return parse_settings(
        [
            "--destination",
            destination,
            "--spool-dir",
            str(spool),
            "--endpoint-name",
            "ep",
            "--variant-name",
            "AllTraffic",
            "--upload-max-backoff",
            "0.2",
            *flags,
        ],
        environ={},
    )


def line(hour: datetime, event_id: str, filler: int = 0) -> bytes:
    """A capture line for `hour` whose eventId is `event_id` (inferenceTime 7 minutes in)."""
    return build_record(
        inference_time=hour + timedelta(minutes=7, seconds=3),
        request=Payload("text/csv", b"1,2,3" + b"9" * filler),
        response=Payload("text/csv", b"0.5"),
        event_id=event_id,
    )


def exchange(hour: datetime, event_id: str, filler: int = 0) -> Exchange:
    """The exchange whose capture line is `line(hour, event_id, filler)`."""
    return Exchange(
        (hour + timedelta(minutes=7, seconds=3)).timestamp(),
        None,
        capture=BOTH_SIDES,
        request_type="text/csv",
        request_body=b"1,2,3" + b"9" * filler,
        response_type="text/csv",
        response_body=b"0.5",
        event_id=event_id,
    )


def stage(queue: CaptureQueue, item: Exchange) -> bool:
    """Queue `item` as the capture stage does."""
    return queue.stage(item, len(item.request_body) + len(item.response_body))


def offer(queue: CaptureQueue, hour: datetime, event_id: str, filler: int = 0) -> bool:
    """Queue the exchange of `line(hour, event_id, filler)`."""
    return stage(queue, exchange(hour, event_id, filler))


def bucket_objects(bucket: str, client: Any | None = None) -> dict[str, bytes]:
    """Every object in `bucket`: key -> body."""
    client = client or boto3.client("s3")
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def folder_objects(root: Path) -> dict[str, bytes]:
    """Every file below `root`, hidden ones included: relative key -> bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def event_ids(bodies: Iterable[bytes]) -> Counter[str]:
    """How often each eventId occurs across the given file bodies (each line parsed)."""
    counts: Counter[str] = Counter()
    for body in bodies:
        assert body.endswith(b"\n"), "a capture file must end with a whole line"
        for text in body.splitlines():
            counts[parse_record(text).event_id] += 1
    return counts


def spool_files(spool: Path) -> list[Path]:
    """Capture files below `spool`; safe while a running sidecar moves and prunes them."""
    return sorted(
        Path(folder, name)
        for folder, _, names in os.walk(spool)  # os.walk skips folders removed meanwhile
        for name in names
        if name.endswith(".jsonl")
    )


def metric(registry: Any, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else float(value)


async def eventually(
    condition: Callable[[], object], seconds: float = 10.0, what: str = ""
) -> None:
    """Poll `condition` in a thread (it may do blocking I/O) until truthy, or fail the test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what or condition}")


def make_delivery(settings: Settings, **kwargs: Any) -> tuple[Delivery, CaptureQueue, Any]:
    queue = CaptureQueue(settings.queue_max_bytes)
    metrics = SidecarMetrics()
    delivery = Delivery(
        settings, queue, metrics, settings.spool_dir, encoder=RecordEncoder(), **kwargs
    )
    return delivery, queue, metrics


async def stop(delivery: Delivery, seconds: float = 10.0) -> None:
    await delivery.stop(asyncio.get_running_loop().time() + seconds)


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """A real write failure: past RLIMIT_FSIZE the kernel refuses writes (EFBIG)."""
    saved_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    saved = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, saved[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, saved)
        signal.signal(signal.SIGXFSZ, saved_handler)


def upload_failures(registry: Any) -> float:
    """Failed upload attempts, whatever their outcome (refused, timeout, http_error, ...)."""
    return sum(
        metric(registry, "infertap_uploads_total", {"outcome": outcome})
        for outcome in UPLOAD_OUTCOMES
        if outcome != UPLOAD_SUCCESS
    )
