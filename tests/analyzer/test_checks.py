"""Constraint checks and the violations file, against SageMaker's own files and texts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analyzer.checking.checks import (
    Violation,
    column_violations,
    evaluate,
    java_double,
)
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reporting import baseline_files
from analyzer.reporting.baseline_files import Constraints, FeatureConstraint, MonitoringConfig
from analyzer.reporting.violations_file import violations_to_bytes


def profile_of(columns: dict[str, list[str]]) -> DatasetProfile:
    profile = DatasetProfile()
    n = len(next(iter(columns.values())))
    profile.update_columns(columns, n)
    return profile


def constraints_for(profile: DatasetProfile, **config: object) -> Constraints:
    from analyzer.suggesting.data_quality import suggest_constraints

    return suggest_constraints(profile.to_statistics(), MonitoringConfig(**config))  # type: ignore[arg-type]


def test_violations_file_matches_sagemakers_bytes(shared_data: Path) -> None:
    reference = (shared_data / "sagemaker-sdk-constraint_violations.json").read_bytes()
    violations = [Violation(**v) for v in json.loads(reference)["violations"]]
    assert violations_to_bytes(violations) == reference
    assert violations_to_bytes([]) == b'{\n  "violations" : [ ]\n}\n'
    quoted = violations_to_bytes([Violation('a "b"', "data_type_check", "é\\n")])
    assert json.loads(quoted)["violations"][0] == {
        "feature_name": 'a "b"',
        "constraint_check_type": "data_type_check",
        "description": "é\\n",
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (100.0, "100.0"),
        (0.1, "0.1"),
        (99.64592817400101, "99.64592817400101"),
        (0.0, "0.0"),
        (1e-4, "1.0E-4"),
        (1.5e-5, "1.5E-5"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (-2.5e-7, "-2.5E-7"),
        (1e22, "1.0E22"),
        (float("nan"), "NaN"),
    ],
)
def test_numbers_are_written_as_the_jvm_does(value: float, text: str) -> None:
    assert java_double(value) == text


def test_data_type_check_uses_sagemakers_text() -> None:
    baseline = profile_of({"a": [str(i) for i in range(10)]})
    current = profile_of({"a": ["1", "2", "3.5", "x"]})
    result = evaluate(
        baseline.to_statistics(), constraints_for(baseline), current.to_statistics(), current.view()
    )
    assert [v.to_json() for v in result.violations] == [
        {
            "feature_name": "a",
            "constraint_check_type": "data_type_check",
            "description": "Data type match requirement is not met. Expected data type: "
            "Integral, Expected match: 100.0%. Observed: Only 50.0% of data is Integral.",
        }
    ]


def test_fractional_columns_accept_whole_numbers_and_thresholds_apply() -> None:
    baseline = profile_of({"a": ["1.5", "2.5"], "b": ["1", "2"]})
    current = profile_of({"a": ["1", "2", "3.5", "4"], "b": ["1", "2", "3", "5.5"]})
    strict = evaluate(
        baseline.to_statistics(), constraints_for(baseline), current.to_statistics(), current.view()
    )
    assert [(v.feature_name, v.constraint_check_type) for v in strict.violations] == [
        ("b", "data_type_check")
    ]
    lenient = constraints_for(baseline, datatype_check_threshold=0.75)
    relaxed = evaluate(baseline.to_statistics(), lenient, current.to_statistics(), current.view())
    assert relaxed.violations == []


def test_completeness_and_categorical_values() -> None:
    baseline = profile_of({"a": ["1", "2", "3", "4"], "c": ["x", "y", "x", "y"]})
    current = profile_of({"a": ["1", "", "3", "4"], "c": ["x", "y", "z", "x"]})
    result = evaluate(
        baseline.to_statistics(),
        constraints_for(baseline, comparison_threshold=1.0, categorical_comparison_threshold=1.0),
        current.to_statistics(),
        current.view(),
    )
    assert [v.to_json() for v in result.violations] == [
        {
            "feature_name": "a",
            "constraint_check_type": "completeness_check",
            "description": "Value: 0.75 does not meet the constraint requirement! ",
        },
        {
            "feature_name": "c",
            "constraint_check_type": "categorical_values_check",
            "description": "Value: 0.75 does not meet the constraint requirement! ",
        },
    ]


def test_missing_values_stay_inside_the_domain_as_in_deequ() -> None:
    # Deequ's isContainedIn is `c IS NULL OR c IN (...)`: 3 of 4 rows satisfy it, not 2 of 3.
    baseline = profile_of({"c": ["x", "y", "x", "y"]})
    current = profile_of({"c": ["x", "", "z", "x"]})
    constraints = constraints_for(baseline, categorical_comparison_threshold=1.0)
    constraints.features[0].completeness = None
    result = evaluate(
        baseline.to_statistics(), constraints, current.to_statistics(), current.view()
    )
    assert [v.to_json() for v in result.violations] == [
        {
            "feature_name": "c",
            "constraint_check_type": "categorical_values_check",
            "description": "Value: 0.75 does not meet the constraint requirement! ",
        }
    ]


def test_missing_and_extra_columns() -> None:
    found = column_violations(["a", "b", "c"], ["b", "c"], ["a", "c", "d"])
    assert [(v.feature_name, v.constraint_check_type) for v in found] == [
        ("b", "missing_column_check"),
        ("d", "extra_column_check"),
    ]
    assert "Number of columns in current dataset: 3" in found[0].description


def numeric_profile(values: np.ndarray) -> DatasetProfile:
    profile = DatasetProfile()
    profile.update_numeric_matrix(["x"], values.reshape(-1, 1))
    return profile


def test_numeric_drift_simple_versus_robust() -> None:
    rng = np.random.default_rng(7)
    baseline = numeric_profile(rng.normal(0, 1, 5000))
    shifted = numeric_profile(rng.normal(0.5, 1, 5000))
    small = numeric_profile(rng.normal(0.3, 1, 40))
    for method in ("Simple", "Robust"):
        constraints = constraints_for(baseline, comparison_method=method)
        result = evaluate(
            baseline.to_statistics(), constraints, shifted.to_statistics(), shifted.view()
        )
        assert [v.constraint_check_type for v in result.violations] == ["baseline_drift_check"]
        assert result.violations[0].description.startswith("Baseline drift distance: 0.")
        assert result.violations[0].description.endswith(" exceeds threshold: 0.1")
    # 40 values: the distance is mostly sampling noise, which only Robust discounts.
    simple = evaluate(
        baseline.to_statistics(),
        constraints_for(baseline, comparison_method="Simple"),
        small.to_statistics(),
        small.view(),
    )
    robust = evaluate(
        baseline.to_statistics(),
        constraints_for(baseline, comparison_method="Robust"),
        small.to_statistics(),
        small.view(),
    )
    assert simple.feature_drift["x"] > 0.1 and len(simple.violations) == 1
    assert robust.feature_drift["x"] == 0.0 and robust.violations == []


def test_categorical_drift_linf_and_chi_squared() -> None:
    baseline = profile_of({"c": ["a"] * 500 + ["b"] * 500})
    current = profile_of({"c": ["a"] * 800 + ["b"] * 200})
    for method, start in (("LInfinity", "Baseline drift distance: "), ("ChiSquared", "Baseline")):
        constraints = constraints_for(baseline, categorical_drift_method=method)
        result = evaluate(
            baseline.to_statistics(), constraints, current.to_statistics(), current.view()
        )
        assert [v.constraint_check_type for v in result.violations] == ["baseline_drift_check"]
        assert result.violations[0].description.startswith(start)


def test_chi_squared_p_values_are_kept_apart_from_distances() -> None:
    # A p-value is small when there is drift: in the distance map it would invert an alert.
    baseline = profile_of({"c": ["a"] * 500 + ["b"] * 500, "n": [str(i % 7) for i in range(1000)]})
    current = profile_of({"c": ["a"] * 800 + ["b"] * 200, "n": [str(i % 7) for i in range(1000)]})
    constraints = constraints_for(baseline, categorical_drift_method="ChiSquared")
    result = evaluate(
        baseline.to_statistics(), constraints, current.to_statistics(), current.view()
    )
    assert set(result.feature_drift) == {"n"} and set(result.feature_p_value) == {"c"}
    assert result.feature_p_value["c"] < 0.1
    assert [(v.feature_name, v.constraint_check_type) for v in result.violations] == [
        ("c", "baseline_drift_check")
    ]


def test_disabled_evaluation_reports_drift_but_no_violations() -> None:
    baseline = profile_of({"c": ["a"] * 50, "n": ["1"] * 50})
    current = profile_of({"c": ["z"] * 50, "n": ["x"] * 50, "new": ["1"] * 50})
    constraints = constraints_for(
        baseline, evaluate_constraints="Disabled", comparison_method="Simple"
    )
    result = evaluate(
        baseline.to_statistics(), constraints, current.to_statistics(), current.view()
    )
    assert result.violations == []
    assert result.feature_drift == {"c": 1.0}


def test_sagemaker_statistics_file_as_baseline(shared_data: Path) -> None:
    baseline = baseline_files.load_statistics(str(shared_data / "sagemaker-sdk-statistics.json"))
    constraints = Constraints(
        features=[FeatureConstraint("message", "String", 1.0, domains=None)],
        monitoring_config=MonitoringConfig(),
    )
    same = profile_of({"message": ["preproc-not-YET-supported-for-csv-json"] * 10})
    other = profile_of({"message": ["something-else"] * 10})
    assert evaluate(baseline, constraints, same.to_statistics(), same.view()).violations == []
    drifted = evaluate(baseline, constraints, other.to_statistics(), other.view())
    assert [v.constraint_check_type for v in drifted.violations] == ["baseline_drift_check"]
