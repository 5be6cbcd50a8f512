"""report.html is drawn from the typed result a run holds: writing it reads no file back.

Reads are seen through Python's audit hook on `open` (the `reads` fixture), so the runs below are
the real commands, unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from analyzer.__main__ import main
from analyzer.commands.baseline import create_baseline
from tests.analyzer.captures import ENDPOINT, HOUR, csv_record, write_local
from tests.analyzer.quality_data import (
    capture_file,
    label_file,
    label_lines,
    quality_args,
    scored_record,
)


def _under(reads: Counter[str], folder: Path) -> dict[str, int]:
    return {path: n for path, n in reads.items() if Path(path).is_relative_to(folder)}


def test_monitoring_run_draws_its_page_without_reading_back(
    tmp_path: Path, reads: Counter[str]
) -> None:
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    rows = [f"{i % 7 / 10},{i % 10},{i % 5}" for i in range(200)]
    (baseline / "train.csv").write_text("y,a,b\n" + "\n".join(rows) + "\n")
    create_baseline(str(baseline / "train.csv"), str(baseline))
    lines = [
        csv_record(f"{i % 10 + 20},{i % 5}", f"{i % 7 / 10}", HOUR + timedelta(seconds=i))
        for i in range(300)
    ]
    write_local(tmp_path / "captures", HOUR, lines)
    output = tmp_path / "out"
    reads.clear()
    code = main(
        [
            *("run", "--captures", str(tmp_path / "captures"), "--endpoint-name", ENDPOINT),
            *("--baseline-statistics", str(baseline / "statistics.json")),
            *("--baseline-constraints", str(baseline / "constraints.json")),
            *("--output", str(output)),
            *("--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"),
        ]
    )
    assert code == 1  # drift in column a: CompletedWithViolations
    page = (output / "report.html").read_text()
    assert "CompletedWithViolations" in page and "baseline_drift_check" in page
    # What the run wrote is never read back, and the baseline is read once, by the run.
    assert _under(reads, output) == {str(output / "report.html"): 1}  # the test's own read
    assert _under(reads, baseline) == {
        str(baseline / "statistics.json"): 1,
        str(baseline / "constraints.json"): 1,
    }
    # `report --run` builds the same objects from the files: the same page.
    (output / "report.html").unlink()
    assert main(["report", "--run", str(output)]) == 0
    assert _undated((output / "report.html").read_text()) == _undated(page)


def _undated(page: str) -> str:
    """The page without the time it was drawn and the per-process numbering of chart ids."""
    page = re.sub(r"at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\. This page", "at (time). This page", page)
    return re.sub(r"\bc\d+-", "c-", page)


def test_model_quality_run_draws_its_page_without_reading_back(
    tmp_path: Path, reads: Counter[str]
) -> None:
    rows = ["label,prediction,probability"]
    rows += [f"{int(i % 3 == 0)},{int(i % 4 == 0)},{(i % 4 == 0) * 0.8 + 0.1}" for i in range(250)]
    (tmp_path / "val.csv").write_text("\n".join(rows) + "\n")
    assert main(
        [
            *("quality-baseline", "--dataset", str(tmp_path / "val.csv"), "--header"),
            *("--problem-type", "BinaryClassification", "--ground-truth-attribute", "label"),
            *("--inference-attribute", "prediction", "--probability-attribute", "probability"),
            *("--output", str(tmp_path / "baseline")),
        ]
    ) == 0  # fmt: skip
    capture_file(tmp_path, [scored_record(f"r{i}", str((i % 2) * 0.8 + 0.1)) for i in range(250)])
    label_file(tmp_path, label_lines([(f"r{i}", i % 2) for i in range(250)]))
    reads.clear()
    assert main(quality_args(tmp_path)) == 0
    output = tmp_path / "out"
    page = (output / "report.html").read_text()
    assert "Completed" in page and "precision" in page
    assert _under(reads, output) == {str(output / "report.html"): 1}  # the test's own read
    baseline = tmp_path / "baseline"
    assert _under(reads, baseline) == {str(baseline / "constraints.json"): 1}
    (output / "report.html").unlink()
    assert main(["report", "--run", str(output)]) == 0
    assert _undated((output / "report.html").read_text()) == _undated(page)
