"""Feature attribution drift (`attribution-baseline`, `attribution-run`): Kernel SHAP of the
model over HTTP on a dataset or a seeded sample of a window's captured inputs, global SHAP per
feature, and the nDCG of the window's ranking against the baseline's.

The call budget is printed before the first call and capped by --max-model-calls (fewer rows are
explained, with a warning, when all would not fit). A model that keeps failing ends the run
Failed naming the cause; analysis.json is then not written, so no partial result looks whole.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
import orjson

from analyzer.clarify import attribution, config, drift, files, shap_runner
from analyzer.clarify.bias_baseline import dataset_columns
from analyzer.clarify.inputs import InputColumns
from analyzer.clarify.model_client import ModelClient
from analyzer.clarify.page import write_clarify_report
from analyzer.clarify.record import (
    EXPLAINABILITY,
    AttributionCounts,
    ClarifyResult,
    attribution_headlines,
    execution_record,
)
from analyzer.decoding.records import split_records
from analyzer.errors import AnalyzerError, ConfigError, RunFailed
from analyzer.pipeline.outcome import analyse_and_write
from analyzer.reading import storage
from analyzer.reading.captures import iter_files, list_window
from analyzer.reporting.execution import window_text
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS, FAILED

log = logging.getLogger("infertap.analyzer.attribution")


@dataclass(slots=True)
class AttributionJob:
    analysis_config: str
    model_url: str
    output: str
    dataset: str | None = None  # attribution-baseline
    header: bool = False
    captures: str | None = None  # attribution-run
    endpoint_name: str = ""
    variant_name: str = "AllTraffic"
    baseline_constraints: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    max_records: int = 100
    max_model_calls: int | None = None
    batch_rows: int = 1000
    concurrency: int = 4
    model_timeout: float = 30.0
    read_concurrency: int = 4
    say: Callable[[str], None] = print
    progress: TextIO | None = field(default_factory=lambda: sys.stderr)


def run_attribution(job: AttributionJob) -> ClarifyResult:
    """A baseline (job.dataset) or a monitoring run (job.captures); never raises for bad input."""
    result = ClarifyResult(
        FAILED,
        monitoring_type=EXPLAINABILITY,
        endpoint_name=job.endpoint_name,
        variant_name=job.variant_name,
        start=job.start,
        end=job.end,
    )
    analyse_and_write(
        result,
        log,
        "attribution run",
        lambda: _analyse(job, result),
        lambda: _write(job, result),
        job.output,
    )
    return result


def _analyse(job: AttributionJob, result: ClarifyResult) -> None:
    cfg = config.load(job.analysis_config)
    if cfg.shap is None:
        raise ConfigError("the analysis config asks for no SHAP values (methods.shap)")
    if not cfg.features:
        raise ConfigError("analysis_config.json: headers are needed to name the features")
    features = list(cfg.features)
    counts = AttributionCounts()
    result.counts = counts
    if job.dataset:
        raw = dataset_columns(job.dataset, cfg, features, job.header)
        where = job.dataset
    else:
        raw = _captured_inputs(job, features, counts)
        where = "the captured inputs"
    matrix, dropped = attribution.numeric_matrix(raw, features, where)
    counts.rows_without_numbers = dropped
    result.warnings.extend(counts.warnings())
    if len(matrix) == 0:
        raise RunFailed(f"no rows to explain in {where}")
    rows = attribution.sample(matrix, job.max_records, cfg.shap.seed)
    label = attribution.label_name(cfg)
    explained = _explain(job, cfg, rows, result)
    result.analysis = {
        "version": "1.0",
        **attribution.section(label, features, explained.values, explained.expected_value),
    }
    result.status = COMPLETED
    if job.baseline_constraints:
        _compare(job, label, result)
    result.details["metrics"] = attribution_headlines(
        label,
        attribution.global_values(result.analysis, label),
        result.details.get("ndcg", {}).get(label),
    )


def _explain(
    job: AttributionJob,
    cfg: config.AnalysisConfig,
    rows: npt.NDArray[np.float64],
    result: ClarifyResult,
) -> Any:
    assert cfg.shap is not None
    baseline = attribution.shap_baseline(cfg)
    width = rows.shape[1]
    plan = shap_runner.budget(len(rows), width, len(baseline), cfg.shap.num_samples, job.batch_rows)
    if job.max_model_calls is not None and plan.calls > job.max_model_calls:
        fit = shap_runner.rows_within(
            job.max_model_calls, width, len(baseline), cfg.shap.num_samples, job.batch_rows
        )
        if fit == 0:
            raise RunFailed(
                f"{plan.text()}, but --max-model-calls is {job.max_model_calls}: not one row fits"
            )
        result.warnings.append(
            f"{plan.text()} would pass --max-model-calls {job.max_model_calls}: "
            f"{fit} of {len(rows)} rows explained"
        )
        rows = rows[:fit]
        plan = shap_runner.budget(fit, width, len(baseline), cfg.shap.num_samples, job.batch_rows)
    job.say(f"{plan.text()} (batches of {job.batch_rows} rows, {job.concurrency} at once)")
    predictor = cfg.predictor
    client = ModelClient(
        job.model_url,
        content_type=predictor.content_type if predictor else "text/csv",
        accept_type=predictor.accept_type if predictor else "text/csv",
        probability=predictor.probability if predictor else None,
        batch_rows=job.batch_rows,
        concurrency=job.concurrency,
        timeout=job.model_timeout,
        max_calls=job.max_model_calls,
    )
    try:
        found = shap_runner.explain(
            client.predict, rows, baseline, plan.samples, cfg.shap.seed, cfg.shap.use_logit,
            job.progress,
        )  # fmt: skip
    finally:
        client.close()
    elapsed = found.seconds
    values = shap_runner.aggregate(found.values, cfg.shap.agg_method)
    result.details["model_calls"] = client.calls
    result.details["rows_explained"] = len(rows)
    result.details["model_rows"] = client.rows_sent
    result.details["seconds_in_model"] = round(client.seconds_waiting, 3)
    result.details["overhead_seconds_per_call"] = round(
        (elapsed - client.seconds_waiting) / max(client.calls, 1), 6
    )
    return shap_runner.Explanation(values, found.expected_value)


def _compare(job: AttributionJob, label: str, result: ClarifyResult) -> None:
    assert job.baseline_constraints is not None and result.analysis is not None
    reference = attribution.global_values(files.read_analysis(job.baseline_constraints), label)
    if not reference:
        raise RunFailed(
            f"{job.baseline_constraints} has no global SHAP values for {label!r} "
            "(explanations.kernel_shap.<label>.global_shap_values)"
        )
    current = attribution.global_values(result.analysis, label)
    score = drift.ndcg(reference, current)
    result.details["ndcg"] = {label: score}
    violation = drift.attribution_violation(label, score)
    if violation is not None:
        result.violations.append(violation)
        result.status = COMPLETED_WITH_VIOLATIONS


def _captured_inputs(
    job: AttributionJob, features: list[str], counts: AttributionCounts
) -> dict[str, list[Any]]:
    assert job.captures and job.start and job.end
    if job.end <= job.start:
        raise ConfigError("--end must be after --start")
    listing = list_window(
        job.captures, job.endpoint_name, job.variant_name, job.start, job.end, job.read_concurrency
    )
    collector = InputColumns(features, features)
    counts.capture_files = len(listing.files)
    for item in iter_files([f.url for f in listing.files], job.read_concurrency):
        if item.data is None:
            counts.unreadable_capture_files += 1
            continue
        lines, truncated = split_records(item.data)
        counts.malformed_captures += int(truncated)
        for line in lines:
            try:
                collector(orjson.loads(line)["captureData"].get("endpointInput"))
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                counts.malformed_captures += 1
                continue
            counts.captures += 1
    if not counts.captures:
        captures = storage.join(job.captures, job.endpoint_name, job.variant_name)
        raise RunFailed(f"no captures under {captures}/ for the window")
    return collector.values


def _write(job: AttributionJob, result: ClarifyResult) -> None:
    written = result.output_files
    if result.analysis is not None and result.status != FAILED:
        files.write_json(job.output, files.ANALYSIS_FILE, result.analysis, written)
        if job.baseline_constraints:
            document = files.violations_document(result.violations)
            files.write_json(job.output, files.VIOLATIONS_FILE, document, written)
    written.append(storage.join(job.output, files.EXECUTION_FILE))
    fields = {
        "endpoint_name": job.endpoint_name or None,
        "variant_name": job.variant_name,
        "captures": job.captures,
        "dataset": job.dataset,
        "analysis_config": job.analysis_config,
        "baseline_constraints": job.baseline_constraints,
        "model_url": job.model_url,
        "output": job.output,
    }
    record = execution_record(result, (job.start, job.end), fields)
    files.write_json(job.output, files.EXECUTION_FILE, record, [])
    if job.baseline_constraints:
        _page(job, result)


def _page(job: AttributionJob, result: ClarifyResult) -> None:
    assert job.baseline_constraints and job.start and job.end
    try:
        baseline: dict[str, Any] | None = files.read_analysis(job.baseline_constraints)
        cfg: config.AnalysisConfig | None = config.load(job.analysis_config)
    except AnalyzerError:
        baseline, cfg = None, None
    title = (
        f"Feature attribution drift of {job.endpoint_name}/{job.variant_name}, "
        f"{window_text(job.start, job.end)}"
    )
    page = write_clarify_report(job.output, result, baseline, cfg, title)
    if page is not None:
        result.output_files.append(page)
