"""Bad flags and bad input of run, quality-run and quality-baseline: one clear line, and for the
runs a Failed execution.json all the same (once --output is given)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.__main__ import main
from tests.analyzer.quality_data import quality_args


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--label-window", "9999999999h", "--label-window must be at most 366d (8784h)"),
        ("--label-window", "99999999999999999999d", "--label-window must be at most 366d"),
        ("--label-window", "367d", "--label-window must be at most 366d"),
        ("--end", "9999-12-31T23:00:00Z", "plus --label-window 24h is past 9999"),
        ("--start", "yesterday", "--start must be an ISO 8601 time"),
        ("--start", "0001-01-01T00:00:00+05:00", "--start must be between years 1 and 9999 in UTC"),
        ("--start", "0001-01-01T00:00:00Z", "--start to --end must span at most 366d"),
    ],
)
def test_out_of_range_flag_is_one_line_and_a_failed_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, expected: str
) -> None:
    assert main(quality_args(tmp_path, **{flag: value})) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    record = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert record["status"] == "Failed"
    assert expected in record["failure_reason"]
    assert record["monitoring_type"] == "ModelQuality"
    assert record["options"][flag.lstrip("-").replace("-", "_")] == value


def test_a_year_of_labels_is_accepted(tmp_path: Path) -> None:
    # The bound is not a typo trap: 366 days runs (and fails only for the missing baseline).
    assert main(quality_args(tmp_path, **{"--label-window": "8784h"})) == 2
    record = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert record["label_window"]["end"] == "2027-11-26T09:00:00Z"


def test_quality_baseline_on_non_utf8_rows_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "val.csv").write_bytes(b"label,prediction\n1,1\n0,\xff\n")
    code = main(
        [
            *("quality-baseline", "--dataset", str(tmp_path / "val.csv")),
            *("--problem-type", "BinaryClassification", "--ground-truth-attribute", "label"),
            *("--inference-attribute", "prediction", "--output", str(tmp_path / "baseline")),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"infertap-analyzer quality-baseline: error: {tmp_path / 'val.csv'} line 3 is not UTF-8 "
        "text (byte 0xff); save it as UTF-8"
    ]


def test_run_with_a_bad_flag_leaves_a_failed_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            *("run", "--captures", str(tmp_path), "--endpoint-name", "e"),
            *("--baseline-statistics", "s.json", "--baseline-constraints", "c.json"),
            *(
                "--start",
                "2026-11-25T08:00:00Z",
                "--end",
                "soon",
                "--output",
                str(tmp_path / "out"),
            ),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--end must be an ISO 8601 time" in err[0]
    record = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert record["status"] == "Failed" and record["monitoring_type"] == "DataQuality"
    assert "--end must be an ISO 8601 time" in record["failure_reason"]
