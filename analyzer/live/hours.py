"""A closed hour's reports from the profiles `watch` holds: the run of that hour, without reading
its files again (`pipeline.monitoring.run_monitoring` with the profile handed over), so `watch`
and `run`/`schedule` write an hour's files by one code path."""

from __future__ import annotations

from datetime import UTC, datetime

from analyzer.engines.local import Profiled
from analyzer.live.buckets import HourParts
from analyzer.pipeline.monitoring import run_monitoring
from analyzer.reporting.execution import ExecutionResult
from analyzer.scheduling.config import EndpointConfig
from analyzer.scheduling.jobs import build_job
from analyzer.scheduling.loop import finished_record


def report_hour(
    endpoint: EndpointConfig, hour: int, parts: HourParts | None
) -> ExecutionResult | None:
    """Write the hour's statistics, violations, execution.json and report.html; None when a
    completed report is there already (a restart)."""
    moment = datetime.fromtimestamp(hour, UTC)
    if finished_record(endpoint, moment) is not None:
        return None
    job = build_job(endpoint, moment)
    if parts is None or parts.counts.files == 0:
        # Nothing was read for the hour: the run lists it itself and says what it found.
        return run_monitoring(job)
    profiled = Profiled(parts.profile, parts.output_width, parts.counts)
    return run_monitoring(job, profiled=profiled)
