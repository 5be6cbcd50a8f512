"""What one run is asked to do (monitoring, model quality): window, baseline, input, output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# SageMaker's StoppingCondition.MaxRuntimeInSeconds defaults to 3600 for monitoring schedules.
DEFAULT_MAX_RUNTIME = 3600.0
# Labels arrive late: a model-quality run reads label hours up to a day past its window.
DEFAULT_LABEL_WINDOW = timedelta(hours=24)


@dataclass(slots=True)
class RunJob:
    """What every monitor's job holds: whose traffic, which window, where the reports go.

    `start`/`end` are timezone-aware; the hours in [start, end) are read.
    """

    captures: str
    endpoint_name: str
    variant_name: str
    start: datetime
    end: datetime
    output: str


@dataclass(slots=True)
class MonitoringJob(RunJob):
    """Everything one data-quality run needs, beyond `RunJob`'s window.

    `monitor`: which side of each exchange becomes features ("both", "input" or "output").
    `output_columns`: how many leading baseline columns hold model outputs (CSV by position:
    outputs first, then inputs, as SageMaker lines them up); None detects it from the records.
    `record_hook`: "module:function" or "module.function" decoding payloads the built-in
    decoders cannot (analyzer.decoding.payloads). `workers`: processes profiling files in parallel.
    `max_runtime`: seconds after which the run stops (status Stopped), SageMaker's
    MaxRuntimeInSeconds. `engine`: "local" (processes here) or "spark" (executors of the
    Spark cluster at `spark_master`, default spark-submit's or local[*]).
    """

    baseline_statistics: str
    baseline_constraints: str
    monitor: str = "both"
    output_columns: int | None = None
    record_hook: str | None = None
    model: str | None = None  # OpenAI-compatible traffic: this model's records only
    workers: int = 1
    read_concurrency: int = 16
    max_runtime: float = DEFAULT_MAX_RUNTIME
    engine: str = "local"
    spark_master: str | None = None


@dataclass(slots=True)
class QualityJob(RunJob):
    """Everything one model-quality run needs, beyond `RunJob`'s window."""

    ground_truth: str
    baseline_constraints: str
    problem_type: str
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float = 0.5
    label_window: timedelta = DEFAULT_LABEL_WINDOW
    baseline_statistics: str | None = None
    read_concurrency: int = 4  # capture files in memory at once: the join's memory bound
