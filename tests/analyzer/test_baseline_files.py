"""statistics.json / constraints.json: SageMaker's own files load, ours round-trip byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.errors import BaselineError
from analyzer.reporting import baseline_files
from analyzer.reporting.baseline_files import (
    Constraints,
    FeatureConstraint,
    FeatureStatistics,
    KllBucket,
    MonitoringConfig,
    Statistics,
)

# A numeric feature as SageMaker's baseline job writes it (Jackson formatting, integers where the
# schema says number, the sketch as compactor levels).
SAGEMAKER_NUMERIC = """{
  "version" : 0.0,
  "dataset" : {
    "item_count" : 7
  },
  "features" : [ {
    "name" : "Account Length",
    "inferred_type" : "Integral",
    "numerical_statistics" : {
      "common" : {
        "num_present" : 7,
        "num_missing" : 0
      },
      "mean" : 3.0,
      "sum" : 21.0,
      "std_dev" : 1.0690449676496976,
      "min" : 1.0,
      "max" : 5.0,
      "distribution" : {
        "kll" : {
          "buckets" : [ {
            "lower_bound" : 1.0,
            "upper_bound" : 3.0,
            "count" : 3.0
          }, {
            "lower_bound" : 3.0,
            "upper_bound" : 5.0,
            "count" : 4.0
          } ],
          "sketch" : {
            "parameters" : {
              "c" : 0.64,
              "k" : 2048.0
            },
            "data" : [ [ 1.0, 2.0, 3.0 ], [ 4.0, 5.0 ] ]
          }
        }
      }
    }
  } ]
}"""

# constraints.json as the pre-built container writes it.
SAGEMAKER_CONSTRAINTS = """{
  "version" : 0.0,
  "features" : [ {
    "name" : "Churn",
    "inferred_type" : "Integral",
    "completeness" : 1.0,
    "num_constraints" : {
      "is_non_negative" : true
    }
  }, {
    "name" : "State",
    "inferred_type" : "String",
    "completeness" : 0.99,
    "string_constraints" : {
      "domains" : [ "KS", "OH", "NJ" ]
    }
  } ],
  "monitoring_config" : {
    "evaluate_constraints" : "Enabled",
    "emit_metrics" : "Enabled",
    "datatype_check_threshold" : 1.0,
    "domain_content_threshold" : 1.0,
    "distribution_constraints" : {
      "perform_comparison" : "Enabled",
      "comparison_threshold" : 0.1,
      "comparison_method" : "Robust",
      "categorical_comparison_threshold" : 0.1,
      "categorical_drift_method" : "LInfinity"
    }
  }
}"""


def test_sagemaker_string_statistics_load_and_write_back_byte_for_byte(shared_data: Path) -> None:
    path = shared_data / "sagemaker-sdk-statistics.json"
    stats = baseline_files.load_statistics(str(path))
    assert stats.item_count == 418
    message = stats.feature("message")
    assert message is not None
    assert message.inferred_type == "String"
    assert (message.num_present, message.num_missing) == (418, 0)
    assert message.distinct_count == 1.0
    assert message.categorical_buckets[0].value == "preproc-not-YET-supported-for-csv-json"
    assert message.categorical_buckets[0].count == 418
    assert baseline_files.to_bytes(stats) == path.read_bytes()


def test_sagemaker_numeric_statistics_load(tmp_path: Path) -> None:
    path = tmp_path / "statistics.json"
    path.write_text(SAGEMAKER_NUMERIC)
    stats = baseline_files.load_statistics(str(path))
    feature = stats.feature("Account Length")
    assert feature is not None and feature.is_numeric
    assert (feature.mean, feature.sum, feature.min, feature.max) == (3.0, 21.0, 1.0, 5.0)
    assert feature.kll_sketch == [[1.0, 2.0, 3.0], [4.0, 5.0]]
    assert (feature.kll_c, feature.kll_k) == (0.64, 2048.0)
    assert feature.kll_buckets[1] == KllBucket(3.0, 5.0, 4.0)
    # Written back, the document holds the same data (in our 2-space layout).
    assert json.loads(baseline_files.to_bytes(stats)) == json.loads(SAGEMAKER_NUMERIC)


def test_sagemaker_constraints_load_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "constraints.json"
    path.write_text(SAGEMAKER_CONSTRAINTS)
    constraints = baseline_files.load_constraints(str(path))
    state = constraints.feature("State")
    assert state is not None and state.domains == ["KS", "OH", "NJ"]
    assert state.completeness == 0.99 and state.is_non_negative is None
    churn = constraints.feature("Churn")
    assert churn is not None and churn.is_non_negative is True and churn.domains is None
    assert constraints.monitoring_config == MonitoringConfig()
    assert json.loads(baseline_files.to_bytes(constraints)) == json.loads(SAGEMAKER_CONSTRAINTS)


def test_monitoring_config_defaults_are_sagemakers() -> None:
    assert MonitoringConfig().to_json() == {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": "LInfinity",
        },
    }


def test_old_documented_spelling_and_missing_keys_take_defaults() -> None:
    config = MonitoringConfig.from_json(
        {"distribution_constraints": {"comparion_method": "Simple", "comparison_threshold": 0.2}}
    )
    assert config.comparison_method == "Simple"
    assert config.comparison_threshold == 0.2
    assert config.categorical_drift_method == "LInfinity"


def test_bad_method_names_are_rejected() -> None:
    with pytest.raises(BaselineError, match="categorical_drift_method"):
        MonitoringConfig.from_json({"distribution_constraints": {"categorical_drift_method": "KL"}})


def test_ours_round_trip(tmp_path: Path) -> None:
    stats = Statistics(
        item_count=3,
        features=[
            FeatureStatistics(
                name="x",
                inferred_type="Fractional",
                num_present=2,
                num_missing=1,
                mean=1.5,
                sum=3.0,
                std_dev=0.5,
                min=1.0,
                max=2.0,
                kll_buckets=[KllBucket(1.0, 2.0, 2.0)],
                kll_sketch=[[1.0, 2.0]],
            ),
            FeatureStatistics(name="empty", inferred_type="Unknown", num_missing=3),
        ],
    )
    constraints = Constraints(
        features=[
            FeatureConstraint("x", "Fractional", completeness=2 / 3, is_non_negative=True),
            FeatureConstraint("c", "String", completeness=1.0, domains=["a", "b"]),
        ]
    )
    baseline_files.dump_statistics(stats, str(tmp_path / "out" / "statistics.json"))
    baseline_files.dump_constraints(constraints, str(tmp_path / "out" / "constraints.json"))
    loaded = baseline_files.load_statistics(str(tmp_path / "out" / "statistics.json"))
    assert loaded.to_json() == stats.to_json()
    assert (
        baseline_files.load_constraints(str(tmp_path / "out" / "constraints.json")) == constraints
    )


def test_missing_and_malformed_files_raise_baseline_errors(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="does not exist"):
        baseline_files.load_statistics(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BaselineError, match="not JSON"):
        baseline_files.load_constraints(str(tmp_path / "bad.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(BaselineError, match="'features' list"):
        baseline_files.load_statistics(str(tmp_path / "list.json"))


def test_statistics_on_s3(s3_bucket: str) -> None:
    stats = Statistics(item_count=1, features=[FeatureStatistics("a", "Unknown", num_missing=1)])
    url = f"s3://{s3_bucket}/baseline/statistics.json"
    baseline_files.dump_statistics(stats, url)
    assert baseline_files.load_statistics(url).to_json() == stats.to_json()
