"""bias-baseline and bias-run end to end: files in Clarify's and SageMaker's layouts, the
captures' facets and predictions, labels joined, violations when predictions favour a group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analyzer.__main__ import main
from tests.analyzer.captures import ENDPOINT
from tests.analyzer.clarify import bias_data
from tests.conftest import S3Server


def _baseline(root: Path, table: list[dict[str, Any]]) -> Path:
    dataset = bias_data.write_dataset(root / "train.csv", table)
    config = bias_data.write_config(root / "analysis_config.json")
    code = main(
        [
            "bias-baseline",
            "--dataset", str(dataset),
            "--header",
            "--analysis-config", str(config),
            "--output", str(root / "baseline"),
        ]
    )  # fmt: skip
    assert code == 0
    return root / "baseline" / "analysis.json"


def _run(root: Path, captures: str, labels: str | None, out: str = "out", **extra: str) -> int:
    args = {
        "--captures": captures,
        "--endpoint-name": ENDPOINT,
        "--analysis-config": str(root / "analysis_config.json"),
        "--baseline-constraints": str(root / "baseline" / "analysis.json"),
        "--start": "2026-11-25T08:00:00Z",
        "--end": "2026-11-25T09:00:00Z",
        "--output": str(root / out),
        **extra,
    }
    if labels:
        args["--ground-truth"] = labels
    return main(["bias-run", *(item for pair in args.items() for item in pair)])


def _values(document: dict[str, Any]) -> dict[tuple[str, str, str, str], Any]:
    found = {}
    for stage in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        for facet, groups in document[stage]["facets"].items():
            for group in groups:
                for metric in group["metrics"]:
                    key = (stage, facet, group["value_or_threshold"], metric["name"])
                    found[key] = metric["value"]
    return found


def test_replayed_baseline_rows_complete_with_the_baseline_values(tmp_path: Path) -> None:
    table = bias_data.rows(1, 600)
    baseline = json.loads(_baseline(tmp_path, table).read_text())
    assert baseline["pre_training_bias_metrics"]["label_value_or_threshold"] == "1"
    assert [
        g["value_or_threshold"] for g in baseline["pre_training_bias_metrics"]["facets"]["age"]
    ] == ["(40, 79]"]
    bias_data.write_window(tmp_path, table)
    code = _run(tmp_path, str(tmp_path / "capture"), str(tmp_path / "labels"))
    assert code == 0
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    ours, theirs = _values(analysis), _values(baseline)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    execution = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert execution["status"] == "Completed" and execution["monitoring_type"] == "ModelBias"
    assert execution["counts"]["joined"] == 600
    violations = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert violations == {"version": "1.0", "violations": []}


def test_predictions_that_favour_a_group_are_bias_drift_violations(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _baseline(tmp_path, bias_data.rows(1, 600))
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    captures, labels = bias_data.capture_lines(bias_data.rows(2, 400, favour_sex=1), "b")
    client = s3_server.client()
    capture_key = bias_data.capture_path(Path("cap")).as_posix()
    label_key = bias_data.label_path(Path("gt")).as_posix()
    client.put_object(Bucket=s3_bucket, Key=capture_key, Body=captures)
    client.put_object(Bucket=s3_bucket, Key=label_key, Body=labels)
    code = _run(tmp_path, f"s3://{s3_bucket}/cap/capture", f"s3://{s3_bucket}/gt/labels")
    assert code == 1
    found = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert found["version"] == "1.0"
    named = {(v["facet"], v["facet_value"], v["metric_name"]) for v in found["violations"]}
    assert {("sex", "0", "DPPL"), ("sex", "0", "DI")} <= named
    assert all(v["constraint_check_type"] == "bias_drift_check" for v in found["violations"])
    assert all(v["description"].startswith("Value ") for v in found["violations"])
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Bias metrics per facet against the baseline" in page
    assert page.count('data-metric="DI"') == 2  # sex=0 and age>40, post-training
    assert '<td class="num over">' in page and "bias_drift_check" in page


def test_without_labels_only_label_free_metrics_have_values(tmp_path: Path) -> None:
    table = bias_data.rows(1, 300)
    _baseline(tmp_path, table)
    bias_data.write_window(tmp_path, table)
    assert _run(tmp_path, str(tmp_path / "capture"), None) == 0
    values = _values(json.loads((tmp_path / "out" / "analysis.json").read_text()))
    defined = {key[3] for key, value in values.items() if value is not None}
    assert defined == {"CI", "DPPL", "DI", "CDDPL"}


def test_a_facet_absent_from_the_inputs_fails_the_run_naming_it(tmp_path: Path) -> None:
    table = bias_data.rows(1, 100)
    _baseline(tmp_path, table)
    bias_data.write_window(tmp_path, table)
    bad = {
        **bias_data.ANALYSIS_CONFIG,
        "headers": [*bias_data.HEADERS, "gender"],
        "facet": [{"name_or_index": "gender", "value_or_threshold": ["f"]}],
    }
    (tmp_path / "analysis_config.json").write_text(json.dumps(bad))
    assert _run(tmp_path, str(tmp_path / "capture"), str(tmp_path / "labels"), "bad") == 2
    execution = json.loads((tmp_path / "bad" / "execution.json").read_text())
    assert execution["status"] == "Failed"
    assert "facet 'gender' is absent from every captured input" in execution["failure_reason"]


def test_json_inputs_give_their_facets_by_name_and_json_outputs_their_scores(
    tmp_path: Path,
) -> None:
    import orjson

    from sidecar.common.record import Payload, build_record
    from tests.analyzer.captures import HOUR

    table = bias_data.rows(4, 300)
    _baseline(tmp_path, table)
    lines = []
    for number, row in enumerate(table):
        features = {name: row[name] for name in reversed(bias_data.FEATURES)}  # order irrelevant
        lines.append(
            build_record(
                inference_time=HOUR,
                request=Payload("application/json", orjson.dumps({"instances": [features]})),
                response=Payload(
                    "application/json", orjson.dumps({"predictions": [{"score": row["score"]}]})
                ),
                inference_id=f"j-{number}",
            )
        )
    path = bias_data.capture_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(lines))
    labels = bias_data.label_path(tmp_path)
    labels.parent.mkdir(parents=True)
    labels.write_bytes(bias_data.capture_lines(table, "j")[1])
    code = _run(
        tmp_path,
        str(tmp_path / "capture"),
        str(tmp_path / "labels"),
        **{"--probability-attribute": "predictions[0].score"},
    )
    assert code == 0  # the same rows as the baseline: the same values
    execution = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert execution["counts"]["joined"] == 300
    assert execution["counts"]["captures_without_facet"] == 0


def test_bias_baseline_asks_the_model_when_there_is_no_predicted_label_column(
    tmp_path: Path,
) -> None:
    from tests.analyzer.clarify.linear_server import LinearModel, serve

    table = bias_data.rows(5, 200)
    dataset = bias_data.write_dataset(tmp_path / "train.csv", table)
    config = {**bias_data.ANALYSIS_CONFIG}
    del config["predicted_label"]
    config["headers"] = [h for h in bias_data.HEADERS if h != "predicted"]
    config["probability_threshold"] = 40.0 / 100
    (tmp_path / "analysis_config.json").write_text(json.dumps(config))
    model = LinearModel((0.0, 0.5, 0.0, 0.0), bias=0.2)  # sex=1 scores 0.7: positive
    args = ["--analysis-config", str(tmp_path / "analysis_config.json"), "--header"]
    with serve(model) as url:
        code = main(
            ["bias-baseline", "--dataset", str(dataset), *args, "--output", str(tmp_path / "b"),
             "--model-url", url]
        )  # fmt: skip
    assert code == 0 and model.rows == 200
    analysis = json.loads((tmp_path / "b" / "analysis.json").read_text())
    sex = analysis["post_training_bias_metrics"]["facets"]["sex"][0]["metrics"]
    values = {m["name"]: m["value"] for m in sex}
    # The facet group is sex=0: never predicted positive, while every sex=1 is.
    assert values["DPPL"] == pytest.approx(1.0) and values["DI"] == 0.0


def test_a_threshold_facet_stays_a_threshold_in_a_window_with_few_distinct_values(
    tmp_path: Path,
) -> None:
    # 600 baseline rows: age has 62 values (over 5 %), continuous; a window of 3,000 captures with
    # the same 62 values (2 %) would be categorical by Clarify's rule: the baseline decides.
    _baseline(tmp_path, bias_data.rows(1, 600))
    bias_data.write_window(tmp_path, bias_data.rows(6, 3000))
    assert _run(tmp_path, str(tmp_path / "capture"), str(tmp_path / "labels")) in (0, 1)
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    groups = analysis["pre_training_bias_metrics"]["facets"]["age"]
    assert [g["value_or_threshold"] for g in groups] == ["(40, 79]"]


def test_the_flip_test_reads_every_feature_of_the_captured_inputs(tmp_path: Path) -> None:
    table = bias_data.rows(7, 300)
    dataset = bias_data.write_dataset(tmp_path / "train.csv", table)
    methods = {"post_training_bias": {"methods": ["FT", "DPPL"]}}
    config = bias_data.write_config(tmp_path / "analysis_config.json", methods=methods)
    assert main(
        ["bias-baseline", "--dataset", str(dataset), "--header", "--analysis-config",
         str(config), "--output", str(tmp_path / "baseline")]
    ) == 0  # fmt: skip
    bias_data.write_window(tmp_path, table)
    assert _run(tmp_path, str(tmp_path / "capture"), str(tmp_path / "labels")) == 0
    run = _values(json.loads((tmp_path / "out" / "analysis.json").read_text()) | _EMPTY_PRE)
    base = _values(json.loads((tmp_path / "baseline" / "analysis.json").read_text()) | _EMPTY_PRE)
    flips = {key: value for key, value in run.items() if key[3] == "FT"}
    assert len(flips) == 2 and all(isinstance(v, float) for v in flips.values())
    assert flips == {key: base[key] for key in flips}


_EMPTY_PRE: dict[str, Any] = {"pre_training_bias_metrics": {"facets": {}}}
