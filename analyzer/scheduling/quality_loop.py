"""One scheduled model-quality run: the hour `label_delay` before an analysed hour."""

from __future__ import annotations

import logging
from datetime import datetime

from analyzer.pipeline.quality import run_quality
from analyzer.reporting.quality_record import QualityResult
from analyzer.scheduling.config import EndpointConfig
from analyzer.scheduling.jobs import quality_job
from analyzer.scheduling.quality_metrics import QualityMetrics

log = logging.getLogger("infertap.analyzer.commands.schedule")


def run_quality_hour(
    endpoint: EndpointConfig, hour: datetime, metrics: QualityMetrics
) -> QualityResult | None:
    """Run the endpoint's model quality for `hour - label_delay` and show it in the metrics."""
    job = quality_job(endpoint, hour)
    if job is None:
        return None
    result = run_quality(job)
    metrics.update(result, endpoint.name, endpoint.variant)
    log.info(
        "scheduled model-quality run finished",
        extra={
            "endpoint": endpoint.name,
            "variant": endpoint.variant,
            "hour": f"{job.start:%FT%HZ}",
            "status": result.status,
            "failure_reason": result.failure_reason,
            "joined": result.counts.joined,
        },
    )
    return result
