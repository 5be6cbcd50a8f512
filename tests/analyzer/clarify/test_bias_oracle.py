"""Every bias metric equals smclarify's on the same rows (to 1e-9): categorical and threshold
facets, several facets and values, a group variable, empty groups (null with the reason)."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analyzer.clarify import bias, config
from analyzer.clarify.bias import BiasData
from analyzer.clarify.columns import parse_column
from analyzer.clarify.names import POST_TRAINING, PRE_TRAINING

PRE = [m for m in PRE_TRAINING]
POST = [m for m in POST_TRAINING if m != "FT"]


def _dataset(seed: int, rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, rows)
    age = rng.integers(18, 80, rows)
    region = rng.choice(["north", "south", "east"], rows)
    income = rng.normal(50.0, 15.0, rows)
    label = (rng.random(rows) < 0.3 + 0.2 * sex).astype(np.int64)
    predicted = np.where(rng.random(rows) < 0.8, label, 1 - label)
    return pd.DataFrame(
        {
            "sex": sex,
            "age": age,
            "region": region,
            "income": income,
            "label": label,
            "predicted": predicted,
        }
    )


def _config(facets: list[dict[str, Any]], group: str | None = "region") -> config.AnalysisConfig:
    document: dict[str, Any] = {
        "version": "1.0",
        "dataset_type": "text/csv",
        "headers": ["sex", "age", "region", "income", "label", "predicted"],
        "label": "label",
        "predicted_label": "predicted",
        "label_values_or_threshold": [1],
        "facet": facets,
        "methods": {
            "pre_training_bias": {"methods": "all"},
            "post_training_bias": {"methods": "all"},
        },
    }
    if group:
        document["group_variable"] = group
    return config.parse(document)


def _ours(cfg: config.AnalysisConfig, frame: pd.DataFrame) -> dict[str, Any]:
    names = [f.name for f in cfg.facets] + ([cfg.group_variable] if cfg.group_variable else [])
    data = BiasData(
        columns={n: parse_column(frame[n].tolist()) for n in names},
        labelled=np.ones(len(frame), dtype=np.bool_),
        label=parse_column(frame["label"].tolist()),
        predicted=parse_column(frame["predicted"].tolist()),
    )
    return {
        key: bias.report(cfg, data, key) for key in (bias.PRE_TRAINING_KEY, bias.POST_TRAINING_KEY)
    }


def _oracle(report: ModuleType, cfg: config.AnalysisConfig, frame: pd.DataFrame) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, stage, names in (
        (bias.PRE_TRAINING_KEY, report.StageType.PRE_TRAINING, PRE),
        (bias.POST_TRAINING_KEY, report.StageType.POST_TRAINING, POST),
    ):
        facets = {}
        for facet in cfg.facets:
            values = list(facet.values) if facet.values else None
            features = frame.drop(columns=["label", "predicted"])
            facets[facet.name] = report.bias_report(
                features,
                report.FacetColumn(facet.name, values),
                report.LabelColumn("label", frame["label"], [1]),
                stage,
                report.LabelColumn("predicted", frame["predicted"], [1]),
                metrics=names,
                group_variable=frame[cfg.group_variable] if cfg.group_variable else None,
            )
        found[key] = facets
    return found


def _compare(ours: dict[str, Any], oracle: dict[str, Any]) -> int:
    compared = 0
    for key, facets in oracle.items():
        for facet, groups in facets.items():
            mine = ours[key]["facets"][facet]
            assert [g["value_or_threshold"] for g in mine] == [
                g["value_or_threshold"] for g in groups
            ]
            for got, want in zip(mine, groups, strict=True):
                assert [m["name"] for m in got["metrics"]] == [m["name"] for m in want["metrics"]]
                for m_got, m_want in zip(got["metrics"], want["metrics"], strict=True):
                    assert m_got["description"] == m_want["description"]
                    compared += 1
                    if m_want["value"] is None:
                        assert m_got["value"] is None, (facet, m_got)
                        assert m_got["error"]
                    elif isinstance(m_want["value"], str):
                        assert m_got["value"] == m_want["value"]
                    else:
                        assert m_got["value"] == pytest.approx(m_want["value"], abs=1e-9), (
                            facet,
                            m_got["name"],
                        )
    return compared


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_categorical_threshold_and_one_vs_all_facets(
    smclarify_report: ModuleType, seed: int
) -> None:
    frame = _dataset(seed)
    cfg = _config(
        [
            {"name_or_index": "sex", "value_or_threshold": [0]},
            {"name_or_index": "age", "value_or_threshold": [40]},
            {"name_or_index": "region"},
        ]
    )
    compared = _compare(_ours(cfg, frame), _oracle(smclarify_report, cfg, frame))
    assert compared == (1 + 1 + 3) * (len(PRE) + len(POST))


def test_several_category_values_and_float_threshold(smclarify_report: ModuleType) -> None:
    frame = _dataset(7)
    cfg = _config(
        [
            {"name_or_index": "region", "value_or_threshold": ["north", "east"]},
            {"name_or_index": "income", "value_or_threshold": [55.5]},
        ],
        group="sex",
    )
    _compare(_ours(cfg, frame), _oracle(smclarify_report, cfg, frame))


def test_small_groups_give_null_with_the_reason_as_clarify(smclarify_report: ModuleType) -> None:
    frame = _dataset(11, rows=60)
    frame.loc[:, "sex"] = 1  # the facet group sex=0 is empty; sex=1 is everyone
    frame.loc[0, "label"] = 0
    cfg = _config([{"name_or_index": "sex", "value_or_threshold": [0]}], group=None)
    ours = _ours(cfg, frame)
    _compare(ours, _oracle(smclarify_report, cfg, frame))
    ci = ours[bias.PRE_TRAINING_KEY]["facets"]["sex"][0]["metrics"][0]
    assert ci["name"] == "CDDL" and ci["value"] is None
    assert "Group variable" in ci["error"]
    assert all(
        m["value"] is None
        for m in ours[bias.POST_TRAINING_KEY]["facets"]["sex"][0]["metrics"]
        if m["name"] != "GE"
    )


def test_infinite_values_are_written_as_clarify_writes_them(smclarify_report: ModuleType) -> None:
    frame = _dataset(5, rows=60)
    # Group d has positives but never a predicted positive: DCA's cd is infinite.
    d = frame["sex"] == 0
    frame.loc[d, "predicted"] = 0
    frame.loc[d, "label"] = 1
    cfg = _config([{"name_or_index": "sex", "value_or_threshold": [0]}])
    ours = _ours(cfg, frame)
    _compare(ours, _oracle(smclarify_report, cfg, frame))
    values = {
        m["name"]: m["value"] for m in ours[bias.POST_TRAINING_KEY]["facets"]["sex"][0]["metrics"]
    }
    assert values["DCA"] == "-Infinity" and values["DI"] == 0.0
    assert not any(isinstance(v, float) and math.isnan(v) for v in values.values())


@pytest.mark.parametrize("few", [True, False])  # 1 neighbour below 10 rows of group a, else 5
def test_flip_test_equals_smclarify_when_asked(smclarify_report: ModuleType, few: bool) -> None:
    rows = 300
    frame = _dataset(13, rows).drop(columns=["region"])
    frame["region"] = np.random.default_rng(2).integers(0, 3, rows)  # every feature a number
    if few:
        frame.loc[8:, "sex"] = 0  # group a of the sex facet: sex=1, 8 rows at most
    cfg = config.parse(
        {
            "headers": ["sex", "age", "income", "label", "predicted", "region"],
            "label": "label",
            "predicted_label": "predicted",
            "label_values_or_threshold": [1],
            "facet": [
                {"name_or_index": "sex", "value_or_threshold": [0]},
                {"name_or_index": "age", "value_or_threshold": [40]},
            ],
            "methods": {"post_training_bias": {"methods": ["FT", "DPPL"]}},
        }
    )
    names = ["sex", "age", "income", "region"]
    data = BiasData(
        columns={n: parse_column(frame[n].tolist()) for n in names},
        labelled=np.ones(len(frame), dtype=np.bool_),
        label=parse_column(frame["label"].tolist()),
        predicted=parse_column(frame["predicted"].tolist()),
        features={n: parse_column(frame[n].tolist()) for n in names},
    )
    ours = bias.report(cfg, data, bias.POST_TRAINING_KEY)
    features = frame[["sex", "age", "income", "region", "label", "predicted"]]
    for facet in cfg.facets:
        (want,) = smclarify_report.bias_report(
            features.drop(columns=["label", "predicted"]),
            smclarify_report.FacetColumn(facet.name, list(facet.values or ())),
            smclarify_report.LabelColumn("label", frame["label"], [1]),
            smclarify_report.StageType.POST_TRAINING,
            smclarify_report.LabelColumn("predicted", frame["predicted"], [1]),
            metrics=["FT"],
        )
        (got,) = [m for m in ours["facets"][facet.name][0]["metrics"] if m["name"] == "FT"]
        assert got["value"] == pytest.approx(want["metrics"][0]["value"], abs=1e-12), facet.name
        assert got["description"] == want["metrics"][0]["description"]


def test_all_leaves_the_flip_test_out_and_naming_it_asks_for_it() -> None:
    base = {"label": "y", "label_values_or_threshold": [1], "facet": [{"name_or_index": "s"}]}
    everything = config.parse({**base, "methods": {"post_training_bias": {"methods": "all"}}})
    assert everything.post_training is not None and "FT" not in everything.post_training
    named = config.parse({**base, "methods": {"post_training_bias": {"methods": ["FT"]}}})
    assert named.post_training == ("FT",)
