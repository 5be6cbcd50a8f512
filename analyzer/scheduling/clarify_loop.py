"""Scheduled bias and feature attribution runs of an analysed hour (endpoints with a `bias` or
`attribution` section): bias for the hour `label_delay` earlier (its labels have had time to
arrive), attribution for the hour itself."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from analyzer.clarify import attribution, config
from analyzer.clarify.attribution_run import AttributionJob, run_attribution
from analyzer.clarify.bias_run import run_bias
from analyzer.clarify.record import BiasJob, ClarifyResult
from analyzer.errors import AnalyzerError
from analyzer.reading import storage
from analyzer.scheduling.clarify_metrics import ClarifyMetrics
from analyzer.scheduling.config import EndpointConfig
from analyzer.scheduling.jobs import endpoint_job
from sidecar.common.layout import HOUR, partition_key

log = logging.getLogger("infertap.analyzer.commands.schedule")


def report_url(endpoint: EndpointConfig, kind: str, hour: datetime) -> str:
    """`{output}/{bias|attribution}/{endpoint}/{variant}/YYYY/MM/DD/HH`."""
    return storage.join(endpoint.output, kind, partition_key(endpoint.name, endpoint.variant, hour))


def bias_job(endpoint: EndpointConfig, hour: datetime) -> BiasJob | None:
    section = endpoint.bias
    if section is None:
        return None
    window = timedelta(hours=section.label_delay_hours)
    start = hour - window
    return endpoint_job(
        BiasJob,
        endpoint,
        start,
        report_url(endpoint, "bias", start),
        analysis_config=section.analysis_config,
        baseline_constraints=section.baseline_constraints,
        ground_truth=section.ground_truth,
        inference_attribute=section.inference_attribute,
        probability_attribute=section.probability_attribute,
        probability_threshold=section.probability_threshold,
        label_window=window,
    )


def attribution_job(endpoint: EndpointConfig, hour: datetime) -> AttributionJob | None:
    section = endpoint.attribution
    if section is None:
        return None
    return AttributionJob(
        analysis_config=section.analysis_config,
        model_url=section.model_url,
        output=report_url(endpoint, "attribution", hour),
        captures=endpoint.captures,
        endpoint_name=endpoint.name,
        variant_name=endpoint.variant,
        baseline_constraints=section.baseline_constraints,
        start=hour,
        end=hour + HOUR,
        max_records=section.max_records,
        max_model_calls=section.max_model_calls,
        batch_rows=section.batch_rows,
        concurrency=section.model_concurrency,
        say=lambda text: log.info(text, extra={"endpoint": endpoint.name}),
        progress=None,
    )


def run_clarify_hour(
    endpoint: EndpointConfig, hour: datetime, metrics: ClarifyMetrics
) -> list[ClarifyResult]:
    """The endpoint's bias and attribution runs due when `hour` is analysed."""
    results = []
    job = bias_job(endpoint, hour)
    if job is not None:
        result = run_bias(job)
        metrics.update_bias(result, _config(job.analysis_config), endpoint.name, endpoint.variant)
        _log("bias", endpoint, job.start, result)
        results.append(result)
    explain = attribution_job(endpoint, hour)
    if explain is not None:
        result = run_attribution(explain)
        cfg = _config(explain.analysis_config)
        label = attribution.label_name(cfg) if cfg else "label0"
        metrics.update_attribution(result, label, endpoint.name, endpoint.variant)
        _log("attribution", endpoint, hour, result)
        results.append(result)
    return results


def _config(url: str) -> config.AnalysisConfig | None:
    try:
        return config.load(url)
    except AnalyzerError:
        return None  # the run itself failed on it and says why


def _log(kind: str, endpoint: EndpointConfig, hour: datetime, result: ClarifyResult) -> None:
    log.info(
        f"scheduled {kind} run finished",
        extra={
            "endpoint": endpoint.name,
            "variant": endpoint.variant,
            "hour": f"{hour:%FT%HZ}",
            "status": result.status,
            "failure_reason": result.failure_reason,
            "violations": len(result.violations),
        },
    )
