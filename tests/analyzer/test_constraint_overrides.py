"""Per-feature overrides in constraints.json, as the SageMaker SDK writes them, honoured by `run`.

The files in tests/data/sagemaker_sdk/ were written by the SDK's own `Constraints.set_monitoring`
(see generate.py there); the older SDK's and AWS's schema spellings are derived from them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analyzer.__main__ import main
from analyzer.results.constraints import Constraints
from tests.analyzer.captures import ENDPOINT, HOUR, csv_record, write_local
from tests.conftest import REPO_ROOT

SDK_FILES = REPO_ROOT / "tests" / "data" / "sagemaker_sdk"
Edit = Callable[[dict[str, Any]], None]


def _feature(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in body["features"] if f["name"] == name)
    return found


def _camel_case_n(body: dict[str, Any]) -> None:
    # AWS's schema page: `monitoringConfigOverrides` on the feature.
    _feature(body, "n")["monitoringConfigOverrides"] = {"evaluate_constraints": "Disabled"}


def _old_sdk_color(body: dict[str, Any]) -> None:
    # SDK 2.x: set_monitoring put the override inside the feature's string_constraints.
    strings = _feature(body, "color")["string_constraints"]
    strings["monitoring_config_overrides"] = {"evaluate_constraints": "Disabled"}


def _violated(tmp_path: Path, constraints: Path) -> set[str]:
    lines = [csv_record(f"purple,{'x' if i % 2 else i % 10}", "0.3") for i in range(60)]
    write_local(tmp_path / "capture", HOUR, lines)
    output = tmp_path / "report"
    code = main(
        [
            *("run", "--captures", str(tmp_path / "capture"), "--endpoint-name", ENDPOINT),
            *("--baseline-statistics", str(SDK_FILES / "statistics.json")),
            *("--baseline-constraints", str(constraints), "--output", str(output)),
            *("--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"),
        ]
    )
    assert code in (0, 1), (output / "execution.json").read_text()
    violations = json.loads((output / "constraint_violations.json").read_text())["violations"]
    return {v["feature_name"] for v in violations}


def test_without_overrides_both_features_are_violated(tmp_path: Path) -> None:
    assert {"color", "n"} <= _violated(tmp_path, SDK_FILES / "constraints.json")


@pytest.mark.parametrize(
    ("name", "off"),
    [("constraints-color-disabled.json", "color"), ("constraints-n-disabled.json", "n")],
)
def test_sdk_set_monitoring_false_turns_off_that_feature_only(
    tmp_path: Path, name: str, off: str
) -> None:
    violated = _violated(tmp_path, SDK_FILES / name)
    assert off not in violated
    assert ({"color", "n"} - {off}) <= violated


def test_a_feature_enabled_in_a_disabled_file_is_the_only_one_checked(tmp_path: Path) -> None:
    assert _violated(tmp_path, SDK_FILES / "constraints-only-color.json") == {"color"}


@pytest.mark.parametrize(("edit", "off"), [(_camel_case_n, "n"), (_old_sdk_color, "color")])
def test_the_other_spellings_are_honoured(tmp_path: Path, edit: Edit, off: str) -> None:
    body = json.loads((SDK_FILES / "constraints.json").read_text())
    edit(body)
    (tmp_path / "constraints.json").write_text(json.dumps(body))
    violated = _violated(tmp_path, tmp_path / "constraints.json")
    assert off not in violated and violated


@pytest.mark.parametrize("edit", [_camel_case_n, _old_sdk_color])
def test_overrides_are_written_back_where_they_were(edit: Edit) -> None:
    body = json.loads((SDK_FILES / "constraints.json").read_text())
    edit(body)
    assert Constraints.from_json(body).to_json()["features"] == body["features"]


def test_sdk_files_are_written_back_as_the_sdk_wrote_them() -> None:
    for path in SDK_FILES.glob("constraints-*.json"):
        body = json.loads(path.read_text())
        assert Constraints.from_json(body).to_json()["features"] == body["features"], path.name


def test_a_bad_override_fails_the_run_naming_the_feature(tmp_path: Path) -> None:
    body = json.loads((SDK_FILES / "constraints-color-disabled.json").read_text())
    _feature(body, "color")["monitoring_config_overrides"]["evaluate_constraints"] = "Maybe"
    (tmp_path / "constraints.json").write_text(json.dumps(body))
    shutil.copy(SDK_FILES / "statistics.json", tmp_path / "statistics.json")
    write_local(tmp_path / "capture", HOUR, [csv_record("red,1", "0.3")])
    code = main(
        [
            *("run", "--captures", str(tmp_path / "capture"), "--endpoint-name", ENDPOINT),
            *("--baseline-statistics", str(tmp_path / "statistics.json")),
            *("--baseline-constraints", str(tmp_path / "constraints.json")),
            *("--output", str(tmp_path / "report")),
            *("--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"),
        ]
    )
    record = json.loads((tmp_path / "report" / "execution.json").read_text())
    assert code == 2 and record["status"] == "Failed"
    assert "feature color" in record["failure_reason"]
    assert (
        "evaluate_constraints must be Enabled or Disabled, got 'Maybe'" in record["failure_reason"]
    )
