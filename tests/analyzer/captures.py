"""Test helpers: capture records and files laid out exactly as the sidecar writes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record

HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)
ENDPOINT = "churn"
VARIANT = "AllTraffic"


def csv_record(inputs: str, output: str | None, when: datetime = HOUR) -> bytes:
    """A capture line with a CSV request and (optionally) a CSV response."""
    response = Payload("text/csv; charset=utf-8", output.encode()) if output is not None else None
    return build_record(
        inference_time=when,
        request=Payload("text/csv", inputs.encode()),
        response=response,
    )


def json_record(request: Any, response: Any | None, when: datetime = HOUR) -> bytes:
    """A capture line with JSON bodies (given as text or as objects to serialise)."""
    import orjson

    def body(value: Any) -> bytes:
        return value.encode() if isinstance(value, str) else orjson.dumps(value)

    return build_record(
        inference_time=when,
        request=Payload("application/json", body(request)),
        response=Payload("application/json", body(response)) if response is not None else None,
    )


def capture_key(hour: datetime, opened: timedelta = timedelta(minutes=1)) -> str:
    """`{endpoint}/{variant}/YYYY/MM/DD/HH/MM-SS-mmm-uuid.jsonl` for a file opened in `hour`."""
    return f"{partition_key(ENDPOINT, VARIANT, hour)}/{file_name(hour + opened, uuid.uuid4())}"


def write_local(root: Path, hour: datetime, lines: Iterable[bytes], **kw: Any) -> Path:
    path = root / capture_key(hour, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))
    return path


def write_s3(client: Any, bucket: str, prefix: str, hour: datetime, lines: Iterable[bytes]) -> str:
    key = f"{prefix}/{capture_key(hour)}"
    client.put_object(Bucket=bucket, Key=key, Body=b"".join(lines))
    return key


def chunks(items: Sequence[bytes], parts: int) -> list[list[bytes]]:
    """Split records into `parts` files' worth (as several replicas would)."""
    return [list(items[i::parts]) for i in range(parts)]
