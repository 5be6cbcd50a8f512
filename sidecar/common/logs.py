"""Structured logs: one JSON object a line on stderr, with time, level, logger and message.

Context goes in `extra` (`extra={"fields": {...}}` or plain keys); it is written as top-level
keys. Callers never pass payloads, headers or credentials.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

import orjson

# Attributes every LogRecord has; anything else came from `extra` and is written out.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD:
                continue
            if key == "fields" and isinstance(value, dict):
                entry.update(value)
            else:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode("utf-8")


def _utc(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


def setup_logging(level: str = "info", *, keep_existing: bool = False) -> None:
    """Route every logger (ours, aiohttp's, botocore's) through one JSON handler on stderr.

    `keep_existing`: leave the handlers of a program that embeds us and set up logging already.
    """
    root = logging.getLogger()
    if not (keep_existing and root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request access lines would cost throughput and could carry paths with ids.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Third-party debug output can include request signing details.
    for noisy in ("botocore", "aiobotocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))


@dataclass(slots=True)
class Throttle:
    """Counts events and lets a log line through at most once per `every` seconds, so a
    lasting failure (a full disk, an upstream outage) does not flood the logs."""

    every: float
    pending: int = 0
    last: float = float("-inf")

    def add(self, count: int) -> int:
        """Record `count` events; the total to log now, or 0 to stay quiet."""
        self.pending += count
        now = time.monotonic()
        if now - self.last < self.every:
            return 0
        total, self.pending, self.last = self.pending, 0, now
        return total
