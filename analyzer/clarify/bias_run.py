"""One bias drift run (`infertap-analyzer bias-run`): the window's captures joined to labels
(the model-quality join), facets read from the captured inputs, Clarify's bias metrics, the
baseline's analysis.json as constraints.

A run never raises for bad data or missing files: it ends Failed with a reason.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from analyzer.checking.quality.attributes import Attribute
from analyzer.checking.quality.join import Joined, join_captures
from analyzer.checking.quality.labels import LabelTable, read_labels
from analyzer.checking.quality.predictions import Predictor
from analyzer.clarify import bias, columns, config, drift, files
from analyzer.clarify.bias import BiasData
from analyzer.clarify.inputs import InputColumns
from analyzer.clarify.page import write_clarify_report
from analyzer.clarify.record import (
    BIAS,
    HISTORY_BIAS_METRICS,
    BiasCounts,
    BiasJob,
    ClarifyResult,
    execution_record,
)
from analyzer.errors import AnalyzerError, ConfigError, RunFailed
from analyzer.pipeline.outcome import analyse_and_write, new_result
from analyzer.reading import storage
from analyzer.reading.captures import list_window
from analyzer.reading.ground_truth import list_label_files
from analyzer.reporting.execution import window_text
from analyzer.results.problem import BINARY, MULTICLASS, REGRESSION
from analyzer.results.status import COMPLETED, COMPLETED_WITH_VIOLATIONS

log = logging.getLogger("infertap.analyzer.bias")
STAGES = (bias.PRE_TRAINING_KEY, bias.POST_TRAINING_KEY)


def run_bias(job: BiasJob) -> ClarifyResult:
    """Run one bias drift job; bad data, missing files and bad baselines end it Failed."""
    result = new_result(ClarifyResult, job)
    result.monitoring_type = BIAS
    analyse_and_write(
        result,
        log,
        "bias run",
        lambda: _analyse(job, result),
        lambda: _write(job, result),
        job.output,
    )
    log.info("bias run finished", extra={"endpoint": job.endpoint_name, "status": result.status})
    return result


def predictor_of(job: BiasJob, cfg: config.AnalysisConfig, label_kind: str | None) -> Predictor:
    """How the captured output becomes a predicted label (§9's attributes; the config's
    predictor.label / predictor.probability / probability_threshold are the defaults)."""
    given = cfg.predictor
    inference = job.inference_attribute or (None if given is None else _text(given.label))
    probability = job.probability_attribute or (None if given is None else _text(given.probability))
    threshold = job.probability_threshold
    if threshold is None:
        threshold = cfg.probability_threshold if cfg.probability_threshold is not None else 0.5
    if inference is None and probability is None:
        raise ConfigError(
            "give --inference-attribute or --probability-attribute (or predictor.label / "
            "predictor.probability in the analysis config) to read the predicted label"
        )
    parsed = Attribute.parse(inference, "--inference-attribute") if inference else None
    if label_kind == columns.CONTINUOUS:
        return Predictor(
            REGRESSION, parsed or Attribute.parse(probability or "", "--probability-attribute")
        )
    if parsed is not None:
        return Predictor(MULTICLASS, parsed, None, threshold)
    return Predictor(
        BINARY, None, Attribute.parse(probability or "", "--probability-attribute"), threshold
    )


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _analyse(job: BiasJob, result: ClarifyResult) -> None:
    if job.end <= job.start:
        raise ConfigError("--end must be after --start")
    cfg = config.load(job.analysis_config)
    if cfg.pre_training is None and cfg.post_training is None:
        raise ConfigError("the analysis config asks for no bias metrics (methods.*_training_bias)")
    baseline = files.read_analysis(job.baseline_constraints)
    reference = baseline.get(bias.PRE_TRAINING_KEY) or baseline.get(bias.POST_TRAINING_KEY)
    facet_kinds = bias.facet_kinds_of(reference)
    label_kind = bias.label_kind_of(reference)
    predictor = predictor_of(job, cfg, label_kind)
    counts = BiasCounts()
    result.counts = counts
    listing = list_window(
        job.captures, job.endpoint_name, job.variant_name, job.start, job.end, job.read_concurrency
    )
    table = LabelTable()
    if job.ground_truth:
        labels = list_label_files(job.ground_truth, job.start, job.end + job.label_window)
        table = read_labels([f.url for f in labels], predictor, counts, job.read_concurrency)
    wanted = [f.name for f in cfg.facets] + ([cfg.group_variable] if cfg.group_variable else [])
    flip_test = "FT" in (cfg.post_training or ())
    if flip_test:  # FT reads every feature of every capture
        wanted = list(dict.fromkeys([*wanted, *cfg.features]))
    collector = InputColumns(wanted, cfg.features)
    joined = join_captures(
        [f.url for f in listing.files], table, predictor, counts, job.read_concurrency, collector
    )
    if not joined.all_predictions:
        raise RunFailed(
            f"no capture with a prediction: {counts.captures} capture records in "
            f"{len(listing.files)} files ({counts.missing_predictions} without the prediction "
            "attribute)"
        )
    data = bias_data(collector, joined, predictor, counts, cfg.features if flip_test else ())
    result.warnings.extend(counts.warnings())
    analysis: dict[str, Any] = {"version": "1.0"}
    for stage in STAGES:
        if (cfg.pre_training if stage == bias.PRE_TRAINING_KEY else cfg.post_training) is not None:
            analysis[stage] = bias.report(cfg, data, stage, label_kind, facet_kinds)
    result.analysis = analysis
    result.details["metrics"] = {
        f"{metric} {facet}={value}": number
        for stage in STAGES
        for (facet, value, metric), number in drift.keyed(cfg, analysis.get(stage)).items()
        if metric in HISTORY_BIAS_METRICS and math.isfinite(number)
    }
    for stage in STAGES:
        found, warnings = drift.bias_violations(
            drift.keyed(cfg, baseline.get(stage)), drift.keyed(cfg, analysis.get(stage))
        )
        result.violations.extend(found)
        result.warnings.extend(warnings)
    result.status = COMPLETED_WITH_VIOLATIONS if result.violations else COMPLETED


def bias_data(
    collector: InputColumns,
    joined: Joined,
    predictor: Predictor,
    counts: BiasCounts,
    features: tuple[str, ...] = (),
) -> BiasData:
    """Columns of the captures whose facets were all found; the others are counted."""
    size = len(joined.all_predictions)
    keep = np.ones(size, dtype=np.bool_)
    for name, values in collector.values.items():
        present = np.fromiter((v is not None for v in values), dtype=np.bool_, count=size)
        if not present.any():
            raise RunFailed(
                f"facet {name!r} is absent from every captured input: CSV inputs are read as the "
                f"columns {', '.join(collector_features(collector)) or '(none)'}, JSON inputs by "
                "name"
            )
        keep &= present
    counts.captures_without_facet = int(size - keep.sum())
    labelled = np.zeros(size, dtype=np.bool_)
    positions = (
        np.frombuffer(joined.positions, dtype=np.int64)
        if joined.positions
        else np.zeros(0, dtype=np.int64)
    )
    labelled[positions] = True
    label_values = np.frombuffer(joined.labels, dtype=np.float64) if joined.labels else np.zeros(0)
    label_values = label_values[keep[positions]]
    parsed = {
        name: columns.parse_column(values if keep.all() else _kept(values, keep))
        for name, values in collector.values.items()
    }
    return BiasData(
        columns=parsed,
        labelled=labelled[keep],
        label=_values(label_values, predictor) if label_values.size else None,
        predicted=_values(np.frombuffer(joined.all_predictions, dtype=np.float64)[keep], predictor),
        features={name: parsed[name] for name in features} or None,
    )


def _kept(values: list[Any], keep: np.ndarray[Any, Any]) -> list[Any]:
    kept: list[Any] = np.asarray(values, dtype=object)[keep].tolist()
    return kept


def collector_features(collector: InputColumns) -> list[str]:
    return [n for n, p in zip(collector.wanted, collector.positions, strict=True) if p >= 0]


def _values(codes: np.ndarray[Any, Any], predictor: Predictor) -> np.ndarray[Any, Any]:
    """The join's numbers back as Clarify's column values: class names, 0/1, or numbers."""
    if predictor.problem_type == MULTICLASS:
        names = predictor.classes.names
        return columns.parse_column([names[int(c)] for c in codes.tolist()])
    if predictor.problem_type == BINARY:
        return codes.astype(np.int64)
    return codes.astype(np.float64)


def _write(job: BiasJob, result: ClarifyResult) -> None:
    written = result.output_files
    if result.analysis is not None:
        files.write_json(job.output, files.ANALYSIS_FILE, result.analysis, written)
        files.write_json(
            job.output, files.VIOLATIONS_FILE, files.violations_document(result.violations), written
        )
    written.append(storage.join(job.output, files.EXECUTION_FILE))
    record = execution_record(result, (job.start, job.end), _job_fields(job))
    files.write_json(job.output, files.EXECUTION_FILE, record, [])
    page = write_clarify_report(
        job.output, result, _baseline(job.baseline_constraints), _config(job.analysis_config),
        f"Bias drift of {job.endpoint_name}/{job.variant_name}, {window_text(job.start, job.end)}",
    )  # fmt: skip
    if page is not None:
        written.append(page)


def _baseline(url: str) -> dict[str, Any] | None:
    try:
        return files.read_analysis(url)
    except AnalyzerError:
        return None


def _config(url: str) -> config.AnalysisConfig | None:
    try:
        return config.load(url)
    except AnalyzerError:
        return None


def _job_fields(job: BiasJob) -> dict[str, Any]:
    return {
        "endpoint_name": job.endpoint_name,
        "variant_name": job.variant_name,
        "captures": job.captures,
        "ground_truth": job.ground_truth,
        "analysis_config": job.analysis_config,
        "baseline_constraints": job.baseline_constraints,
        "output": job.output,
    }
