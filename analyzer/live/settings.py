"""What `watch` is asked to do: the endpoints (the schedule's EndpointConfig), the timing, and
how each endpoint's baseline is loaded for the live checks."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from analyzer.errors import ConfigError
from analyzer.job import MonitoringJob
from analyzer.live.decision import DEFAULT_FALSE_ALARMS_PER_DAY, LiveDecision
from analyzer.live.evaluation import LiveBaseline
from analyzer.pipeline.monitoring import decode_options, load_baseline
from analyzer.reading import storage
from analyzer.scheduling.config import EndpointConfig

DEFAULT_WINDOW = "15m"
DEFAULT_STEP = "1m"
DEFAULT_POLL_INTERVAL = "15s"
DEFAULT_MIN_RECORDS = 100
DEFAULT_DELAY_MINUTES = 20.0


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """Timing and decision of the live checks (seconds)."""

    window: int
    step: int
    poll_interval: float
    min_records: int = DEFAULT_MIN_RECORDS
    false_alarms_per_day: float = DEFAULT_FALSE_ALARMS_PER_DAY
    delay_minutes: float | None = None  # --delay; else each endpoint's, else 20

    def __post_init__(self) -> None:
        if self.window < self.step:
            raise ConfigError(
                f"--window ({self.window}s) must be at least one --step ({self.step}s)"
            )
        if self.window % self.step:
            raise ConfigError(
                f"--window ({self.window}s) must be a whole number of --step ({self.step}s)"
            )
        if 3600 % self.step:
            raise ConfigError(f"--step ({self.step}s) must divide an hour, such as 10s, 1m or 5m")

    def delay_of(self, endpoint: EndpointConfig) -> float:
        """Minutes after an hour's end before its report is written (late files come in)."""
        if endpoint.delay_minutes is not None:
            return endpoint.delay_minutes
        return DEFAULT_DELAY_MINUTES if self.delay_minutes is None else self.delay_minutes


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n` with 0 <= i < n."""
    index, _, count = text.partition("/")
    try:
        shard, shards = int(index), int(count)
    except ValueError:
        raise ConfigError(f"--shard must be i/n such as 0/3, got {text!r}") from None
    if not 0 <= shard < shards:
        raise ConfigError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return shard, shards


def in_shard(endpoint: EndpointConfig, shard: tuple[int, int]) -> bool:
    """Whether the endpoint's name hashes to this shard (crc32: the same in every process)."""
    index, count = shard
    return zlib.crc32(endpoint.name.encode()) % count == index


def endpoint_job(endpoint: EndpointConfig, start: datetime, end: datetime) -> MonitoringJob:
    """The monitoring job of an endpoint over [start, end) (its output: the endpoint's own)."""
    allowed = {"monitor", "output_columns", "record_hook", "model"}
    return MonitoringJob(
        captures=endpoint.captures,
        endpoint_name=endpoint.name,
        variant_name=endpoint.variant,
        baseline_statistics=endpoint.baseline_statistics,
        baseline_constraints=endpoint.baseline_constraints,
        start=start,
        end=end,
        output=endpoint.output,
        **{k: v for k, v in endpoint.options.items() if k in allowed},
    )


def load_live_baseline(endpoint: EndpointConfig, settings: LiveSettings) -> LiveBaseline:
    """The endpoint's baseline and decision; BaselineError/StorageError when unreadable."""
    epoch = datetime.fromtimestamp(0, UTC)
    job = endpoint_job(endpoint, epoch, epoch)
    statistics, constraints = load_baseline(job)
    options = decode_options(job, statistics, constraints)
    decision = LiveDecision(len(options.columns), settings.step, settings.false_alarms_per_day)
    return LiveBaseline(statistics, constraints, options, decision, fingerprint(endpoint))


def fingerprint(endpoint: EndpointConfig) -> bytes:
    """A digest of both baseline files: a replaced baseline changes it."""
    digest = hashlib.sha256()
    for url in (endpoint.baseline_statistics, endpoint.baseline_constraints):
        digest.update(storage.read_bytes(url))
    return digest.digest()
