"""The one job builder of the scheduler: a monitor's job for an endpoint's window.

Every monitor's job is a `RunJob` (whose traffic, which window, where the reports go) plus its own
fields; `endpoint_job` fills the shared part from the endpoint's configuration, so the next
monitor's loop passes only what is its own.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, TypeVar

from analyzer.job import MonitoringJob, QualityJob, RunJob
from analyzer.reading import storage
from analyzer.scheduling.config import EndpointConfig
from sidecar.common.layout import HOUR, partition_key

JobT = TypeVar("JobT", bound=RunJob)


def endpoint_job(
    kind: type[JobT], endpoint: EndpointConfig, start: datetime, output: str, **own: Any
) -> JobT:
    """A `kind` job over the hour from `start` of `endpoint`'s traffic, with its `own` fields."""
    return kind(
        captures=endpoint.captures,
        endpoint_name=endpoint.name,
        variant_name=endpoint.variant,
        start=start,
        end=start + HOUR,
        output=output,
        **own,
    )


def report_url(endpoint: EndpointConfig, hour: datetime) -> str:
    """`{output}/{endpoint}/{variant}/YYYY/MM/DD/HH`, SageMaker's report layout."""
    return storage.join(endpoint.output, partition_key(endpoint.name, endpoint.variant, hour))


def quality_report_url(endpoint: EndpointConfig, hour: datetime) -> str:
    """`{output}/model-quality/{endpoint}/{variant}/YYYY/MM/DD/HH`."""
    key = partition_key(endpoint.name, endpoint.variant, hour)
    return storage.join(endpoint.output, "model-quality", key)


def build_job(endpoint: EndpointConfig, hour: datetime) -> MonitoringJob:
    """The data-quality job of an endpoint's hour."""
    return endpoint_job(
        MonitoringJob,
        endpoint,
        hour,
        report_url(endpoint, hour),
        baseline_statistics=endpoint.baseline_statistics,
        baseline_constraints=endpoint.baseline_constraints,
        **endpoint.options,
    )


def quality_job(endpoint: EndpointConfig, hour: datetime) -> QualityJob | None:
    """The model-quality job due when `hour` is analysed (None without a model_quality section):
    the hour `label_delay` before it, with labels read up to `hour`."""
    config = endpoint.model_quality
    if config is None:
        return None
    window = timedelta(hours=config.label_delay_hours)
    own = dataclasses.asdict(config)
    del own["label_delay_hours"]
    start = hour - window
    return endpoint_job(
        QualityJob, endpoint, start, quality_report_url(endpoint, start), label_window=window, **own
    )
