"""Clarify's analysis configuration (`analysis_config.json`), read as SageMaker writes it.

Every key Clarify documents is either used, accepted as having no effect here (the keys that say
where SageMaker runs the model: `predictor.endpoint_name`, `instance_type`, ...; the model is
called at `--model-url` instead), or refused with an error that names it. An inconsistent file
(a facet that is not a column, a label value list that is empty, ...) is refused the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from analyzer.clarify.names import ON_REQUEST, POST_TRAINING, PRE_TRAINING
from analyzer.errors import ConfigError
from analyzer.reading import storage

AGG_METHODS = ("mean_abs", "median", "mean_sq")
_TOP_KEYS = {
    "version",
    "dataset_type",
    "dataset_uri",
    "headers",
    "label",
    "label_values_or_threshold",
    "facet",
    "group_variable",
    "probability_threshold",
    "predicted_label",
    "excluded_columns",
    "methods",
    "predictor",
}
_UNSUPPORTED_TOP = {
    "features": "a JMESPath to the features of JSON datasets; give CSV or JSON Lines columns",
    "joinsource_name_or_index": "joining a second dataset",
    "predicted_label_dataset_uri": "predicted labels in a separate dataset",
    "predicted_label_headers": "predicted labels in a separate dataset",
    "facet_dataset_uri": "facets in a separate dataset",
    "facet_headers": "facets in a separate dataset",
    "time_series_data_config": "time-series explanations",
}
_METHOD_KEYS = {"pre_training_bias", "post_training_bias", "shap", "report"}
_UNSUPPORTED_METHODS = {
    "pdp": "partial dependence plots",
    "asymmetric_shapley_value": "asymmetric Shapley values (time series)",
}
_SHAP_KEYS = {"baseline", "num_samples", "agg_method", "seed", "use_logit"}
# Accepted, no effect: local values are not kept (only global ones are monitored).
_SHAP_IGNORED = {"save_local_shap_values"}
_UNSUPPORTED_SHAP = {
    "num_clusters": "a baseline made by clustering the dataset; give `baseline` rows",
    "features_to_explain": "explaining a subset of features",
    "text_config": "text features",
    "image_config": "image features",
}
_PREDICTOR_KEYS = {"content_type", "accept_type", "label", "probability", "label_headers"}
# Where SageMaker would deploy or reach the model; here it is reached at --model-url.
_PREDICTOR_IGNORED = {
    "model_name",
    "endpoint_name",
    "endpoint_name_prefix",
    "instance_type",
    "initial_instance_count",
    "accelerator_type",
    "target_model",
    "custom_attributes",
}
_UNSUPPORTED_PREDICTOR = {
    "content_template": "request templates; the model gets CSV rows or JSON Lines",
    "record_template": "request templates; the model gets CSV rows or JSON Lines",
    "time_series_predictor_config": "time-series models",
}
CONTENT_TYPES = ("text/csv", "application/jsonlines")
ACCEPT_TYPES = ("text/csv", "application/json", "application/jsonlines")
DATASET_TYPES = ("text/csv", "application/jsonlines", "application/x-parquet")


class AnalysisConfigError(ConfigError):
    """analysis_config.json has a key that is unsupported or inconsistent; the message names it."""


@dataclass(frozen=True, slots=True)
class Facet:
    name: str
    values: tuple[Any, ...] | None  # categories, or one threshold; None: each value vs the rest


@dataclass(frozen=True, slots=True)
class ShapConfig:
    baseline: tuple[tuple[Any, ...], ...]  # rows of feature values, in the features' order
    num_samples: int | None
    agg_method: str
    seed: int | None
    use_logit: bool


@dataclass(frozen=True, slots=True)
class PredictorConfig:
    content_type: str
    accept_type: str
    label: str | int | None
    probability: str | int | None
    label_headers: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    headers: tuple[str, ...] | None
    label: str | None
    label_values: tuple[Any, ...]
    facets: tuple[Facet, ...]
    group_variable: str | None
    probability_threshold: float | None
    predicted_label: str | None
    excluded_columns: tuple[str, ...]
    pre_training: tuple[str, ...] | None  # metric names; None: not asked
    post_training: tuple[str, ...] | None
    shap: ShapConfig | None
    predictor: PredictorConfig | None
    dataset_type: str

    @property
    def features(self) -> tuple[str, ...]:
        """The model's input columns, in order: headers less label, predicted label, excluded."""
        if self.headers is None:
            return ()
        dropped = {self.label, self.predicted_label, *self.excluded_columns}
        return tuple(name for name in self.headers if name not in dropped)


def load(url: str) -> AnalysisConfig:
    """Read and check an analysis_config.json (a path or s3:// URL)."""
    try:
        document = json.loads(storage.read_bytes(url))
    except ValueError as exc:
        raise AnalysisConfigError(f"{url} is not JSON: {exc}") from None
    return parse(document)


def parse(document: Any) -> AnalysisConfig:
    """The typed configuration of a parsed analysis_config.json; the error names the key."""
    body = _object(document, "the analysis configuration")
    _check_keys(body, _TOP_KEYS, _UNSUPPORTED_TOP, set(), "")
    version = body.get("version", "1.0")
    if str(version) != "1.0":
        _fail("version", f"must be 1.0 (the only version Clarify defines), got {version!r}")
    headers = _headers(body.get("headers"))
    methods = _object(body.get("methods", {}), "methods")
    _check_keys(methods, _METHOD_KEYS, _UNSUPPORTED_METHODS, set(), "methods.")
    config = AnalysisConfig(
        headers=headers,
        label=_column(body.get("label"), headers, "label"),
        label_values=_values(body.get("label_values_or_threshold"), "label_values_or_threshold"),
        facets=_facets(body.get("facet"), headers),
        group_variable=_column(body.get("group_variable"), headers, "group_variable"),
        probability_threshold=_threshold(body.get("probability_threshold")),
        predicted_label=_column(body.get("predicted_label"), headers, "predicted_label"),
        excluded_columns=tuple(
            _column(item, headers, "excluded_columns") or ""
            for item in _list(body.get("excluded_columns", []), "excluded_columns")
        ),
        pre_training=_metrics(methods.get("pre_training_bias"), PRE_TRAINING, "pre_training_bias"),
        post_training=_metrics(
            methods.get("post_training_bias"), POST_TRAINING, "post_training_bias"
        ),
        shap=_shap(methods.get("shap")),
        predictor=_predictor(body.get("predictor")),
        dataset_type=_choice(body.get("dataset_type", "text/csv"), DATASET_TYPES, "dataset_type"),
    )
    _check_consistent(config)
    return config


def _check_consistent(config: AnalysisConfig) -> None:
    bias = config.pre_training is not None or config.post_training is not None
    if bias and not config.label:
        _fail("label", "is required for bias metrics (the name or index of the label column)")
    if bias and not config.label_values:
        _fail("label_values_or_threshold", "is required for bias metrics and must not be empty")
    if bias and not config.facets:
        _fail("facet", "is required for bias metrics: [{name_or_index, value_or_threshold}]")
    for facet in config.facets:
        if facet.name in (config.label, config.predicted_label):
            _fail("facet", f"{facet.name!r} is the label column; a facet must be a feature")
    if config.shap is not None and config.headers is not None:
        width = len(config.features)
        for row in config.shap.baseline:
            if len(row) != width:
                _fail(
                    "methods.shap.baseline",
                    f"rows must have {width} values (the features {', '.join(config.features)})"
                    f", one has {len(row)}",
                )


def _fail(key: str, text: str) -> None:
    raise AnalysisConfigError(f"analysis_config.json: {key} {text}")


def _check_keys(
    body: dict[str, Any],
    known: set[str],
    unsupported: dict[str, str],
    ignored: set[str],
    prefix: str,
) -> None:
    for key in body:
        if key in known or key in ignored:
            continue
        if key in unsupported:
            _fail(prefix + key, f"is not supported ({unsupported[key]})")
        _fail(
            prefix + key, f"is not a key Clarify defines here (known: {', '.join(sorted(known))})"
        )


def _object(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AnalysisConfigError(f"analysis_config.json: {key} must be a JSON object")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(key, f"must be a list, got {json.dumps(value)[:60]}")
    return list(value)


def _headers(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = _list(value, "headers")
    if not names or not all(isinstance(n, str) and n for n in names):
        _fail("headers", "must be a non-empty list of column names")
    if len(set(names)) != len(names):
        _fail("headers", "names a column twice")
    return tuple(names)


def _column(value: Any, headers: tuple[str, ...] | None, key: str) -> str | None:
    """A `name_or_index` as a column name (an index needs `headers`)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        _fail(key, f"must be a column name or index, got {json.dumps(value)}")
    if isinstance(value, int):
        if headers is None or not 0 <= value < len(headers):
            _fail(key, f"index {value} needs `headers` with a column at that index")
        return headers[value]  # type: ignore[index]
    if headers is not None and value not in headers:
        _fail(key, f"{value!r} is not one of the headers ({', '.join(headers)})")
    return str(value)


def _values(value: Any, key: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    items = _list(value, key)
    for item in items:
        if isinstance(item, dict | list) or item is None:
            _fail(key, f"holds {json.dumps(item)}; give label values or one threshold")
    return tuple(items)


def _facets(value: Any, headers: tuple[str, ...] | None) -> tuple[Facet, ...]:
    if value is None:
        return ()
    facets = []
    for number, item in enumerate(_list(value, "facet")):
        entry = _object(item, f"facet[{number}]")
        _check_keys(entry, {"name_or_index", "value_or_threshold"}, {}, set(), f"facet[{number}].")
        if "name_or_index" not in entry:
            _fail(f"facet[{number}]", "needs name_or_index")
        name = _column(entry["name_or_index"], headers, f"facet[{number}].name_or_index") or ""
        given = _values(entry.get("value_or_threshold"), f"facet[{number}].value_or_threshold")
        facets.append(Facet(name, given or None))
    if len({f.name for f in facets}) != len(facets):
        _fail("facet", "names a column twice")
    return tuple(facets)


def _threshold(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        _fail("probability_threshold", f"must be a number in [0, 1], got {json.dumps(value)}")
    return float(value)


def _metrics(value: Any, known: tuple[str, ...], key: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    methods = _object(value, f"methods.{key}").get("methods", "all")
    if methods == "all":
        return tuple(name for name in known if name not in ON_REQUEST)
    names = _list(methods, f"methods.{key}.methods")
    for name in names:
        if name not in known:
            _fail(f"methods.{key}.methods", f"names {name!r}; Clarify's are {', '.join(known)}")
    return tuple(sorted(set(names)))


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        _fail(key, f"must be one of {', '.join(allowed)}, got {json.dumps(value)}")
    return str(value)


def _shap(value: Any) -> ShapConfig | None:
    if value is None:
        return None
    body = _object(value, "methods.shap")
    _check_keys(body, _SHAP_KEYS, _UNSUPPORTED_SHAP, _SHAP_IGNORED, "methods.shap.")
    baseline = body.get("baseline")
    if isinstance(baseline, str):
        _fail("methods.shap.baseline", "as an S3 file is not supported; give the rows inline")
    rows = _list(baseline, "methods.shap.baseline") if baseline is not None else []
    if not rows or not all(isinstance(row, list) and row for row in rows):
        _fail("methods.shap.baseline", "must be a non-empty list of rows of feature values")
    samples = body.get("num_samples")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)):
        _fail("methods.shap.num_samples", f"must be a whole number, got {json.dumps(samples)}")
    if samples is not None and samples < 1:
        _fail("methods.shap.num_samples", f"must be at least 1, got {samples}")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        _fail("methods.shap.seed", f"must be a whole number, got {json.dumps(seed)}")
    logit = body.get("use_logit", False)
    if not isinstance(logit, bool):
        _fail("methods.shap.use_logit", f"must be true or false, got {json.dumps(logit)}")
    return ShapConfig(
        baseline=tuple(tuple(row) for row in rows),
        num_samples=samples,
        agg_method=_choice(
            body.get("agg_method", "mean_abs"), AGG_METHODS, "methods.shap.agg_method"
        ),
        seed=seed,
        use_logit=logit,
    )


def _predictor(value: Any) -> PredictorConfig | None:
    if value is None:
        return None
    body = _object(value, "predictor")
    _check_keys(body, _PREDICTOR_KEYS, _UNSUPPORTED_PREDICTOR, _PREDICTOR_IGNORED, "predictor.")
    headers = body.get("label_headers")
    return PredictorConfig(
        content_type=_choice(
            body.get("content_type", "text/csv"), CONTENT_TYPES, "predictor.content_type"
        ),
        accept_type=_choice(
            body.get("accept_type", body.get("content_type", "text/csv")),
            ACCEPT_TYPES,
            "predictor.accept_type",
        ),
        label=_path(body.get("label"), "predictor.label"),
        probability=_path(body.get("probability"), "predictor.probability"),
        label_headers=None
        if headers is None
        else tuple(str(h) for h in _list(headers, "predictor.label_headers")),
    )


def _path(value: Any, key: str) -> str | int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if not isinstance(value, str) or not value:
        _fail(key, f"must be a column index or a JSONPath, got {json.dumps(value)}")
    return str(value)
