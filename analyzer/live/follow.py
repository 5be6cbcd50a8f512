"""Which capture files are new: one LIST per endpoint-variant-hour folder, after the last key seen.

Keys sort by time within an hour folder (`MM-SS-mmm-uuid.jsonl`, from the moment a file was
opened), so each poll asks S3 for the keys after the newest one seen, less LOOKBACK_SECONDS: a
file opened earlier but uploaded later (a slow or retried upload, another replica) is still
found, and the names seen in that margin are skipped. A local folder is scanned the same way.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from analyzer.errors import CaptureError
from analyzer.reading import storage
from analyzer.reading.storage import ObjectInfo
from sidecar.common.layout import is_capture_file_name, partition_key

LOOKBACK_SECONDS = 300


@dataclass(slots=True)
class _Folder:
    """What has been seen in one hour folder."""

    prefix: str
    seen: set[str] = field(default_factory=set)
    newest: str = ""  # the greatest file name seen

    def start_after(self) -> str:
        """The name to list after: the newest one seen, LOOKBACK_SECONDS earlier."""
        if not self.newest:
            return ""
        seconds = int(self.newest[0:2]) * 60 + int(self.newest[3:5]) - LOOKBACK_SECONDS
        return "" if seconds < 0 else f"{seconds // 60:02d}-{seconds % 60:02d}-"


@dataclass(frozen=True, slots=True)
class NewFile:
    """A capture file not read before, with the start of its hour folder (epoch seconds)."""

    url: str
    size: int
    hour: int


class CaptureFollower:
    """The new files of one endpoint variant's hour folders."""

    def __init__(self, captures: str, endpoint: str, variant: str) -> None:
        self.captures = captures
        self.endpoint = endpoint
        self.variant = variant
        self._folders: dict[int, _Folder] = {}
        self.ignored = 0  # files in the hour folders that are not capture files

    def forget_before(self, hour: int) -> None:
        """Stop following the folders of hours before `hour`."""
        for old in [h for h in self._folders if h < hour]:
            del self._folders[old]

    async def poll(self, hours: list[int], client: Any) -> list[NewFile]:
        """The files of the given hours' folders not returned before, in key order."""
        found = await asyncio.gather(*(self._poll_hour(hour, client) for hour in hours))
        return [item for batch in found for item in batch]

    async def _poll_hour(self, hour: int, client: Any) -> list[NewFile]:
        folder = self._folders.get(hour)
        if folder is None:
            moment = datetime.fromtimestamp(hour, UTC)
            prefix = storage.join(self.captures, partition_key(self.endpoint, self.variant, moment))
            folder = self._folders[hour] = _Folder(prefix)
        listed = await _list_after(folder.prefix, folder.start_after(), client)
        new: list[NewFile] = []
        for info in listed:
            name = info.url.rsplit("/", 1)[-1]
            if name in folder.seen or name.startswith("."):
                continue  # dot files are uploads under way (written aside, then renamed)
            folder.seen.add(name)
            if not is_capture_file_name(name):
                self.ignored += 1
                continue
            folder.newest = max(folder.newest, name)
            new.append(NewFile(info.url, info.size, hour))
        return new


async def _list_after(prefix: str, start_after: str, client: Any) -> list[ObjectInfo]:
    """Files directly in `prefix` whose names sort after `start_after`, by name."""
    if not storage.is_s3(prefix):
        return await asyncio.to_thread(_scan_local, prefix, start_after)
    bucket, key_prefix = storage.split_s3(prefix + "/")
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": key_prefix}
    if start_after:
        arguments["StartAfter"] = key_prefix + start_after
    found: list[ObjectInfo] = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(**arguments):
            for item in page.get("Contents", []):
                found.append(ObjectInfo(f"s3://{bucket}/{item['Key']}", int(item["Size"])))
    except (ClientError, BotoCoreError) as exc:
        raise CaptureError(f"cannot list capture files under {prefix}/: {exc}") from exc
    return found


def _scan_local(prefix: str, start_after: str) -> list[ObjectInfo]:
    folder = storage.local_path(prefix)
    found: list[ObjectInfo] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name > start_after and entry.is_file():
                    found.append(ObjectInfo(os.path.join(prefix, entry.name), entry.stat().st_size))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CaptureError(f"cannot list capture files under {folder}: {exc.strerror}") from exc
    found.sort(key=lambda info: info.url)
    return found
