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
