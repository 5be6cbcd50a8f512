"""The live decision on windows profiled for real: a feature whose baseline completeness is 0.98
breaks `run`'s completeness_check in about half of the windows of traffic like the baseline's;
the live decision keeps none of those, and keeps a real drop."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from analyzer.__main__ import main as analyzer_main
from analyzer.decoding.payloads import DecodeOptions
from analyzer.live.decision import LiveDecision
from analyzer.pipeline.monitoring import check_profile
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reporting import baseline_files
from analyzer.results.violations import COMPLETENESS_CHECK

COLUMNS = ("score", "x", "y")
MISSING = 0.02


def rows(rng: np.random.Generator, count: int, missing: float) -> np.ndarray:
    data = np.column_stack(
        [rng.uniform(0, 1, count), rng.normal(0, 1, count), rng.normal(5, 2, count)]
    )
    data[rng.random(count) < missing, 1] = np.nan
    return data


def test_completeness_holds_its_false_alarms_and_still_sees_a_drop(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    dataset = tmp_path / "train.csv"
    lines = [",".join(COLUMNS)] + [
        ",".join("" if np.isnan(v) else f"{v:.4f}" for v in row)
        for row in rows(rng, 20_000, MISSING)
    ]
    dataset.write_text("\n".join(lines) + "\n")
    with contextlib.redirect_stdout(io.StringIO()):
        code = analyzer_main(["baseline", "--dataset", str(dataset), "--header",
                              "--output", str(tmp_path / "b")])  # fmt: skip
    assert code == 0
    statistics = baseline_files.load_statistics(str(tmp_path / "b" / "statistics.json"))
    constraints = baseline_files.load_constraints(str(tmp_path / "b" / "constraints.json"))
    x = next(c for c in constraints.features if c.name == "x")
    assert x.completeness is not None and 0.97 < x.completeness < 0.99
    decision = LiveDecision(features=3, step=60)
    options = DecodeOptions(columns=COLUMNS)

    def completeness_violations(missing: float) -> tuple[int, int]:
        profile = DatasetProfile()
        profile.update_numeric_matrix(list(COLUMNS), rows(rng, 1500, missing), None)
        checked = check_profile(statistics, constraints, profile, options, 1, sketches=False)
        found = [
            v
            for v in checked.evaluation.violations
            if v.constraint_check_type == COMPLETENESS_CHECK
        ]
        kept = [
            v for v in found if decision.keep(v, statistics, constraints, checked.view.feature("x"))
        ]
        return len(found), len(kept)

    windows = [completeness_violations(MISSING) for _ in range(200)]
    raw = sum(found for found, _ in windows)
    assert 60 < raw < 140  # `run`'s check fires in about half of them
    assert sum(kept for _, kept in windows) == 0
    assert completeness_violations(0.08) == (1, 1)  # four times the missing values: kept
