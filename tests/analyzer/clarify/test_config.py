"""analysis_config.json read as SageMaker writes it; one named error per unsupported or
inconsistent key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from analyzer.clarify import config
from analyzer.clarify.config import AnalysisConfigError

# As the SageMaker Python SDK writes it for a bias and an explainability monitor.
SAGEMAKER_CONFIG: dict[str, Any] = {
    "version": "1.0",
    "dataset_type": "text/csv",
    "dataset_uri": "s3://bucket/train.csv",
    "headers": ["label", "age", "sex", "income", "region"],
    "label": "label",
    "label_values_or_threshold": [1],
    "facet": [{"name_or_index": "sex", "value_or_threshold": [0]}, {"name_or_index": 1}],
    "group_variable": "region",
    "probability_threshold": 0.6,
    "methods": {
        "report": {"name": "report", "title": "Analysis Report"},
        "pre_training_bias": {"methods": "all"},
        "post_training_bias": {"methods": ["DPPL", "DI", "AD"]},
        "shap": {
            "baseline": [[35, 1, 40000.0, 2]],
            "num_samples": 100,
            "agg_method": "mean_abs",
            "save_local_shap_values": True,
            "seed": 7,
        },
    },
    "predictor": {
        "model_name": "credit-model",
        "instance_type": "ml.m5.xlarge",
        "initial_instance_count": 1,
        "content_type": "text/csv",
        "accept_type": "text/csv",
        "probability": 0,
    },
}


def test_sagemaker_file_is_read_as_typed_fields(tmp_path: Path) -> None:
    path = tmp_path / "analysis_config.json"
    path.write_text(__import__("json").dumps(SAGEMAKER_CONFIG))
    cfg = config.load(str(path))
    assert cfg.label == "label" and cfg.label_values == (1,)
    assert [(f.name, f.values) for f in cfg.facets] == [("sex", (0,)), ("age", None)]
    assert cfg.group_variable == "region" and cfg.probability_threshold == 0.6
    assert cfg.features == ("age", "sex", "income", "region")
    assert cfg.pre_training == ("CDDL", "CI", "DPL", "JS", "KL", "KS", "LP", "TVD")
    assert cfg.post_training == ("AD", "DI", "DPPL")
    assert cfg.shap is not None and cfg.shap.num_samples == 100 and cfg.shap.seed == 7
    assert cfg.predictor is not None and cfg.predictor.probability == 0


def _with(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(SAGEMAKER_CONFIG)
    *parents, last = path.split(".")
    target = document
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("methods.pdp", {"grid_resolution": 10}, "methods.pdp is not supported"),
        ("methods.shap.num_clusters", 3, "methods.shap.num_clusters is not supported"),
        ("methods.shap.features_to_explain", ["age"], "features_to_explain is not supported"),
        ("predictor.content_template", "$features", "predictor.content_template is not supp"),
        ("joinsource_name_or_index", "id", "joinsource_name_or_index is not supported"),
        ("colour", "blue", "colour is not a key Clarify defines"),
        ("facet", [{"name_or_index": "gender"}], "facet[0].name_or_index 'gender' is not one"),
        ("facet", [{"name_or_index": "label"}], "'label' is the label column"),
        ("label_values_or_threshold", [], "label_values_or_threshold is required"),
        ("label", _DELETE, "label is required"),
        ("probability_threshold", 1.5, "probability_threshold must be a number in [0, 1]"),
        ("methods.post_training_bias", {"methods": ["XYZ"]}, "names 'XYZ'"),
        ("methods.shap.agg_method", "max", "agg_method must be one of mean_abs, median"),
        ("methods.shap.baseline", [[1, 2]], "rows must have 4 values"),
        ("methods.shap.baseline", "s3://b/baseline.csv", "as an S3 file is not supported"),
        ("predictor.content_type", "image/png", "predictor.content_type must be one of"),
        ("version", "2.0", "version must be 1.0"),
    ],
)
def test_each_bad_key_is_named(path: str, value: Any, named: str) -> None:
    with pytest.raises(AnalysisConfigError, match=r"analysis_config\.json: ") as caught:
        config.parse(_with(path, value))
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)
