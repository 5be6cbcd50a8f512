"""Where capture files live: destinations and the partition key layout (DESIGN.md section 3).

`{prefix}/{endpoint}/{variant}/YYYY/MM/DD/HH/{MM}-{SS}-{mmm}-{uuid4}.jsonl`, hour folders from the
records' `inferenceTime`, the file name from the moment the file was opened. Shared with the
analyzer, which lists the same keys.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from sidecar.errors import SidecarError

HOUR = timedelta(hours=1)
_FILE_NAME = re.compile(r"^\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$")


class DestinationError(SidecarError, ValueError):
    """A destination that is neither `s3://bucket[/prefix]`, `file:///abs/path` nor a path."""


@dataclass(frozen=True, slots=True)
class Destination:
    """An S3 bucket and prefix, or a local folder (then `bucket` is empty, `prefix` the path)."""

    scheme: str  # "s3" or "file"
    bucket: str
    prefix: str

    @property
    def is_s3(self) -> bool:
        return self.scheme == "s3"

    @property
    def local_root(self) -> Path:
        if self.is_s3:
            raise DestinationError(f"{self} is not a local folder")
        return Path(self.prefix)

    def join(self, key: str) -> str:
        """The key of `key` below this destination's prefix (for S3, without the bucket)."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def __str__(self) -> str:
        if self.is_s3:
            return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return self.prefix


def parse_destination(text: str) -> Destination:
    """`s3://bucket/prefix`, `file:///abs/path` or a plain path (made absolute)."""
    if text.startswith("s3://"):
        parsed = urlparse(text)
        if not parsed.netloc:
            raise DestinationError(f"{text!r} names no bucket; use s3://bucket/prefix")
        return Destination("s3", parsed.netloc, parsed.path.strip("/"))
    if text.startswith("file://"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise DestinationError(f"{text!r}: file:// URLs must be absolute, as file:///path")
        return Destination("file", "", str(Path(parsed.path).resolve()))
    if "://" in text:
        raise DestinationError(f"{text!r}: use s3://bucket/prefix, file:///path or a plain path")
    if not text:
        raise DestinationError("the destination is empty")
    return Destination("file", "", str(Path(text).resolve()))


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour holding `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def partition_key(endpoint: str, variant: str, hour: datetime) -> str:
    """`{endpoint}/{variant}/YYYY/MM/DD/HH` for the hour holding `hour` (relative to a prefix)."""
    return f"{endpoint}/{variant}/{hour_of(hour):%Y/%m/%d/%H}"


def file_name(opened_at: datetime, file_id: uuid.UUID | None = None) -> str:
    """`{MM}-{SS}-{mmm}-{uuid4}.jsonl`, from the moment the file was opened."""
    moment = opened_at.astimezone(UTC)
    millis = moment.microsecond // 1000
    return f"{moment:%M-%S}-{millis:03d}-{file_id or uuid.uuid4()}.jsonl"


def is_capture_file_name(name: str) -> bool:
    return bool(_FILE_NAME.match(name))


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """The UTC hours whose start lies in `[start, end)`, hour-aligned `start` rounded up."""
    hour = hour_of(start)
    if hour < start.astimezone(UTC):
        hour += HOUR
    while hour < end.astimezone(UTC):
        yield hour
        hour += HOUR


def hour_from_key(key: str) -> datetime | None:
    """The partition hour of a capture key `…/YYYY/MM/DD/HH/name.jsonl`, or None."""
    parts = key.rsplit("/", 5)
    if len(parts) < 6:
        return None
    try:
        year, month, day, hour = (int(p) for p in parts[1:5])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None
