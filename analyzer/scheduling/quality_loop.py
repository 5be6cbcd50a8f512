"""One scheduled model-quality run: the hour `label_delay` before an analysed hour."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from analyzer.job import QualityJob
from analyzer.pipeline.quality import run_quality
from analyzer.reading import storage
from analyzer.reporting.quality_record import QualityResult
from analyzer.scheduling.config import EndpointConfig
from analyzer.scheduling.quality_metrics import QualityMetrics
from sidecar.common.layout import HOUR, partition_key

log = logging.getLogger("infertap.analyzer.commands.schedule")


def quality_report_url(endpoint: EndpointConfig, hour: datetime) -> str:
    """`{output}/model-quality/{endpoint}/{variant}/YYYY/MM/DD/HH`."""
    key = partition_key(endpoint.name, endpoint.variant, hour)
    return storage.join(endpoint.output, "model-quality", key)


def quality_job(endpoint: EndpointConfig, hour: datetime) -> QualityJob | None:
    """The model-quality job due when `hour` is analysed (None without a model_quality section)."""
    config = endpoint.model_quality
    if config is None:
        return None
    window = timedelta(hours=config.label_delay_hours)
    start = hour - window
    return QualityJob(
        captures=endpoint.captures,
        ground_truth=config.ground_truth,
        endpoint_name=endpoint.name,
        variant_name=endpoint.variant,
        baseline_constraints=config.baseline_constraints,
        baseline_statistics=config.baseline_statistics,
        problem_type=config.problem_type,
        inference_attribute=config.inference_attribute,
        probability_attribute=config.probability_attribute,
        probability_threshold=config.probability_threshold,
        start=start,
        end=start + HOUR,
        label_window=window,
        output=quality_report_url(endpoint, start),
    )


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
