"""`watch --replay` over stored captures: a day of steps without a false alarm at 10, 100 and
1000 records a minute, and a broken sensor or a 1-standard-deviation shift flagged within 5
minutes at the defaults."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analyzer.__main__ import main as analyzer_main
from tests.analyzer.live.live_data import (
    ENDPOINT,
    Traffic,
    make_baseline,
    shifted_rows,
    stuck_rows,
)

DAY = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_baseline(tmp_path_factory.mktemp("baseline"))


def replay(
    captures: Path, baseline: tuple[Path, Path], start: datetime, end: datetime, out: Path
) -> list[dict[str, object]]:
    statistics, constraints = baseline
    with contextlib.redirect_stdout(io.StringIO()):
        code = analyzer_main(
            ["watch", "--replay", "--captures", str(captures), "--endpoint-name", ENDPOINT,
             "--baseline-statistics", str(statistics), "--baseline-constraints", str(constraints),
             "--start", start.isoformat(), "--end", end.isoformat(),
             "--evaluations-out", str(out)]
        )  # fmt: skip
    assert code == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_a_constant_feature_is_flagged_within_five_minutes(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    traffic = Traffic(tmp_path / "captures", per_minute=100)
    change = DAY + timedelta(minutes=40, seconds=30)
    traffic.write(DAY, change)
    traffic.write(change, DAY + timedelta(hours=1), stuck_rows)
    lines = replay(
        tmp_path / "captures", baseline, DAY, DAY + timedelta(hours=1), tmp_path / "e.jsonl"
    )
    assert len(lines) == 60
    first = next(line for line in lines if line["violations"])
    flagged = datetime.fromisoformat(str(first["time"]))
    assert change < flagged <= change + timedelta(minutes=5)
    assert {v["feature_name"] for v in first["violations"]} == {"x"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("per_minute", "instances"),
    [(10, 1), (100, 1), (100, 10)],
    ids=["10-records-a-minute", "100-records-a-minute", "1000-rows-a-minute"],
)
def test_a_day_of_traffic_like_the_baseline_raises_no_live_violation(
    tmp_path: Path, baseline: tuple[Path, Path], per_minute: int, instances: int
) -> None:
    """1,440 evaluations of every feature at two scales; 1000 rows a minute come as 100
    requests of 10 instances, which is what the checks count (rows), at a tenth of the files."""
    traffic = Traffic(tmp_path / "captures", per_minute=per_minute, instances=instances, seed=3)
    traffic.write(DAY, DAY + timedelta(hours=24))
    lines = replay(tmp_path / "captures", baseline, DAY, DAY + timedelta(hours=24), tmp_path / "e")
    assert len(lines) == 1440
    assert [line for line in lines if line["violations"]] == []
    # The windows were checked, not skipped: past the first window, each holds 15 minutes.
    assert min(int(str(line["records"])) for line in lines[15:]) >= 15 * per_minute - 1


def test_a_one_standard_deviation_shift_is_flagged_within_five_minutes(
    tmp_path: Path, baseline: tuple[Path, Path]
) -> None:
    traffic = Traffic(tmp_path / "captures", per_minute=100)
    change = DAY + timedelta(minutes=33, seconds=20)
    traffic.write(DAY, change)
    traffic.write(change, DAY + timedelta(hours=1), shifted_rows)
    lines = replay(tmp_path / "captures", baseline, DAY, DAY + timedelta(hours=1), tmp_path / "e")
    assert all(not line["violations"] for line in lines[:33])
    first = next(line for line in lines if line["violations"])
    assert datetime.fromisoformat(str(first["time"])) <= change + timedelta(minutes=5)
    assert first["violations"] == [
        {
            "feature_name": "x",
            "constraint_check_type": "baseline_drift_check",
            "description": first["violations"][0]["description"],  # type: ignore[index]
        }
    ]
    description = first["violations"][0]["description"]
    assert str(description).startswith("Baseline drift distance: ")
