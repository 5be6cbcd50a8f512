"""A bias baseline (`infertap-analyzer bias-baseline`): Clarify's bias metrics of a labelled
dataset, written as analysis.json, which is the constraints file of bias-run (as in SageMaker).

The dataset's columns are named by the config's `headers` (or its header line); post-training
metrics read the predicted label from the config's `predicted_label` column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.clarify import bias, columns, config, files
from analyzer.clarify.bias import BiasData
from analyzer.clarify.model_client import ModelClient
from analyzer.errors import DatasetError
from analyzer.reading.labelled_rows import iter_rows

_FORMATS = {"text/csv": "csv", "application/jsonlines": "jsonl", "application/x-parquet": "parquet"}


def dataset_columns(
    url: str, cfg: config.AnalysisConfig, names: list[str], header: bool
) -> dict[str, list[Any]]:
    """The named columns of a dataset, each a list of values in row order."""
    found: dict[str, list[Any]] = {name: [] for name in names}
    for number, row in enumerate(_rows(url, cfg, header), start=1):
        for name in names:
            if name not in row:
                raise DatasetError(
                    f"{url}: row {number} has no column {name!r} (columns: {', '.join(row)})"
                )
            found[name].append(row[name])
    if not found or not next(iter(found.values())):
        raise DatasetError(f"{url} has no rows")
    return found


def _model_predictions(
    cfg: config.AnalysisConfig, raw: dict[str, list[Any]], model_url: str
) -> npt.NDArray[np.int64]:
    """The model's predicted labels of the dataset's feature rows (1 above the threshold)."""
    rows = np.asarray([raw[name] for name in cfg.features], dtype=object).T
    given = cfg.predictor
    client = ModelClient(
        model_url,
        content_type=given.content_type if given else "text/csv",
        accept_type=given.accept_type if given else "text/csv",
        probability=given.probability if given else None,
    )
    try:
        scores = client.predict(rows)
    finally:
        client.close()
    threshold = cfg.probability_threshold if cfg.probability_threshold is not None else 0.5
    predicted: npt.NDArray[np.int64] = (scores > threshold).astype(np.int64)
    return predicted


def _rows(url: str, cfg: config.AnalysisConfig, header: bool) -> Iterator[dict[str, Any]]:
    fmt = _FORMATS[cfg.dataset_type]
    if fmt != "csv" or header:
        yield from iter_rows(url, fmt, header=True)
        return
    if cfg.headers is None:
        raise DatasetError("a CSV dataset without a header line needs `headers` in the config")
    for row in iter_rows(url, fmt, header=False):
        values = [row[str(i)] for i in range(len(row) // 2)]
        if len(values) != len(cfg.headers):
            raise DatasetError(
                f"{url}: a row has {len(values)} values, `headers` names {len(cfg.headers)}"
            )
        yield dict(zip(cfg.headers, values, strict=True))


def bias_baseline(
    dataset: str,
    cfg: config.AnalysisConfig,
    output: str,
    header: bool,
    model_url: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """analysis.json of the dataset, written under `output`; returns it and the files written.

    Post-training metrics read the predicted label from the `predicted_label` column, or, without
    one, ask the model at `model_url` (a score above `probability_threshold` is positive)."""
    if cfg.pre_training is None and cfg.post_training is None:
        raise DatasetError("the analysis config asks for no bias metrics (methods.*_training_bias)")
    ask_model = cfg.post_training is not None and not cfg.predicted_label
    if ask_model and not model_url:
        raise DatasetError(
            "post-training bias metrics need the predicted label: name its column in the "
            "config's `predicted_label`, or give --model-url to ask the model"
        )
    names = [f.name for f in cfg.facets]
    names += [n for n in (cfg.group_variable, cfg.label, cfg.predicted_label) if n]
    flip_test = "FT" in (cfg.post_training or ())
    if ask_model or flip_test:
        names += list(cfg.features)
    names = list(dict.fromkeys(names))
    raw = dataset_columns(dataset, cfg, names, header)
    size = len(raw[names[0]])
    predicted = None
    if cfg.predicted_label:
        predicted = columns.parse_column(raw[cfg.predicted_label])
    elif ask_model:
        predicted = _model_predictions(cfg, raw, model_url or "")
    data = BiasData(
        columns={name: columns.parse_column(raw[name]) for name in names},
        labelled=np.ones(size, dtype=np.bool_),
        label=columns.parse_column(raw[cfg.label or ""]),
        predicted=predicted,
        features=(
            {name: columns.parse_column(raw[name]) for name in cfg.features} if flip_test else None
        ),
    )
    analysis: dict[str, Any] = {"version": "1.0"}
    if cfg.pre_training is not None:
        analysis[bias.PRE_TRAINING_KEY] = bias.report(cfg, data, bias.PRE_TRAINING_KEY)
    if cfg.post_training is not None:
        analysis[bias.POST_TRAINING_KEY] = bias.report(cfg, data, bias.POST_TRAINING_KEY)
    written: list[str] = []
    files.write_json(output, files.ANALYSIS_FILE, analysis, written)
    return analysis, written
