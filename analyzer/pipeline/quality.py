"""One model-quality run (`infertap-analyzer quality-run`): list, join, measure, check, write.

A run never raises for bad data or missing files: it ends Failed with a reason that says what was
found on each side, and every unmatched or bad input is counted in execution.json.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np

from analyzer.checking.quality import constraints as quality_constraints
from analyzer.checking.quality import reference
from analyzer.checking.quality.attributes import Attribute
from analyzer.checking.quality.estimate import ESTIMATED_KEY, compare, estimate, trust_warnings
from analyzer.checking.quality.join import Joined, join_captures
from analyzer.checking.quality.labels import read_labels
from analyzer.checking.quality.predictions import Predictor
from analyzer.checking.quality.statistics import quality_statistics, scalar_values
from analyzer.errors import AnalyzerError, ConfigError
from analyzer.job import QualityJob
from analyzer.pipeline.outcome import analyse_and_write, new_result
from analyzer.reading import storage
from analyzer.reading.captures import list_window
from analyzer.reading.ground_truth import list_label_files
from analyzer.reporting import quality_files
from analyzer.reporting.html.run_page import write_run_report
from analyzer.reporting.html.sources import QualityReport
from analyzer.reporting.quality_record import QualityResult, execution_record
from analyzer.results.problem import BINARY, PROBLEM_TYPES, class_label
from analyzer.results.quality_counts import QualityCounts
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS

log = logging.getLogger("infertap.analyzer.quality")


def run_quality(job: QualityJob) -> QualityResult:
    """Run one model-quality job; bad data, missing files and bad baselines end it Failed."""
    result = new_result(QualityResult, job)
    analyse_and_write(
        result,
        log,
        "model-quality run",
        lambda: _analyse(job, result),
        lambda: _write(job, result),
        job.output,
    )
    log.info(
        "model-quality run finished",
        extra={
            "endpoint": job.endpoint_name,
            "status": result.status,
            "joined": result.counts.joined,
        },
    )
    return result


def predictor_of(job: QualityJob) -> Predictor:
    if job.problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, got {job.problem_type!r}"
        )
    return Predictor(
        job.problem_type,
        Attribute.parse(job.inference_attribute, "--inference-attribute")
        if job.inference_attribute
        else None,
        Attribute.parse(job.probability_attribute, "--probability-attribute")
        if job.probability_attribute
        else None,
        job.probability_threshold,
    )


def _analyse(job: QualityJob, result: QualityResult) -> None:
    if job.end <= job.start:
        raise ConfigError("--end must be after --start")
    predictor = predictor_of(job)
    wanted = quality_files.load_constraints(job.baseline_constraints, job.problem_type)
    result.constraints = wanted
    counts = result.counts
    listing = list_window(
        job.captures, job.endpoint_name, job.variant_name, job.start, job.end, job.read_concurrency
    )
    label_files = list_label_files(job.ground_truth, job.start, job.end + job.label_window)
    table = read_labels([f.url for f in label_files], predictor, counts, job.read_concurrency)
    joined = join_captures(
        [f.url for f in listing.files], table, predictor, counts, job.read_concurrency
    )
    result.warnings.extend(counts.warnings())
    if job.problem_type == BINARY:
        result.estimated = estimate(
            np.asarray(joined.all_scores, dtype=np.float64),
            np.asarray(joined.all_predictions, dtype=np.float64),
            _reference(job.baseline_statistics),
        )
    if counts.joined == 0:
        if result.estimated is not None:
            result.warnings.extend(trust_warnings(result.estimated, {}))
        raise AnalyzerError(_nothing_joined(job, counts, len(listing.files)))
    _measure(job, predictor, joined, result)
    if result.estimated is not None:
        result.warnings.extend(trust_warnings(result.estimated, result.estimate_vs_realised))
    violations, warnings = quality_constraints.evaluate(wanted, result.metric_values)
    result.violations = violations
    result.warnings.extend(warnings)
    result.status = COMPLETED_WITH_VIOLATIONS if violations else COMPLETED


def _reference(url: str | None) -> reference.Reference | None:
    """What the baseline learnt for CBPE (calibration, sampling errors), if it was given."""
    if not url:
        return None
    return reference.from_json(quality_files.baseline_object(url, reference.REFERENCE_KEY), url)


def _measure(job: QualityJob, predictor: Predictor, joined: Joined, result: QualityResult) -> None:
    names = predictor.classes.names
    seen = (
        quality_files.baseline_classes(job.baseline_statistics)
        if job.baseline_statistics
        else set()
    )
    if seen:
        unseen = {code for code, name in enumerate(names) if class_label(name) not in seen}
        result.counts.unseen_classes = sum(1 for v in joined.labels if int(v) in unseen)
        if result.counts.unseen_classes:
            result.warnings.append(
                f"{result.counts.unseen_classes} joined labels are of a class the baseline "
                "never saw (kept)"
            )
    statistics = quality_statistics(
        job.problem_type,
        np.asarray(joined.labels, dtype=np.float64),
        np.asarray(joined.predictions, dtype=np.float64),
        np.asarray(joined.scores, dtype=np.float64),
        names,
    )
    result.statistics = statistics
    result.metric_values = scalar_values(statistics)
    result.label_delay_seconds = (joined.delay_sum / len(joined), joined.delay_max)
    if result.estimated is not None:
        result.estimate_vs_realised = compare(result.estimated, result.metric_values)


def _nothing_joined(job: QualityJob, counts: QualityCounts, files: int) -> str:
    captures = storage.join(job.captures, job.endpoint_name, job.variant_name)
    labels_end = job.end + job.label_window
    predicted = counts.captures - counts.malformed_captures - counts.missing_predictions
    return (
        f"no captured prediction joined a label: {counts.captures} capture records in {files} "
        f"files under {captures}/ for {job.start:%Y-%m-%dT%H:%MZ}-{job.end:%Y-%m-%dT%H:%MZ} "
        f"({max(predicted, 0)} with a prediction, {counts.missing_predictions} without); "
        f"{counts.labels} labels in {counts.label_files} files under {job.ground_truth} for "
        f"{job.start:%Y-%m-%dT%H:%MZ}-{labels_end:%Y-%m-%dT%H:%MZ} "
        f"({counts.unreadable_labels} unreadable, {counts.invalid_labels} invalid). "
        "Labels join on the capture's inferenceId (else eventId) = the label's eventId: post "
        "labels with `infertap-analyzer ground-truth`, or widen --label-window"
    )


def _write(job: QualityJob, result: QualityResult) -> None:
    written = result.output_files
    if result.statistics is not None or result.estimated is not None:
        document: dict[str, Any] = dict(result.statistics or {"version": 0.0})
        if result.estimated is not None:
            document[ESTIMATED_KEY] = result.estimated
        quality_files.write(
            job.output,
            quality_files.STATISTICS_FILE,
            quality_files.document_bytes(document),
            written,
        )
    if result.statistics is not None:
        quality_files.write(
            job.output,
            quality_files.VIOLATIONS_FILE,
            quality_files.violations_bytes(result.violations),
            written,
        )
    execution = storage.join(job.output, quality_files.EXECUTION_FILE)
    written.append(execution)
    result.finished_at = datetime.now(UTC)
    storage.write_bytes(execution, quality_files.document_bytes(execution_record(result, job)))
    # The page is drawn from the result in memory and never changes the run's outcome; whether
    # it was written is added to execution.json (the page, or a warning saying why not).
    page = write_run_report(QualityReport(job.output, result, result.constraints or None))
    if page.problem is None:
        written.append(page.url)
    else:
        result.warnings.append(page.warning)
    storage.write_bytes(execution, quality_files.document_bytes(execution_record(result, job)))
