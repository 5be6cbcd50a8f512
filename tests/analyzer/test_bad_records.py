"""Hostile and odd capture records through `infertap-analyzer run`: bounded memory and time, and
every record counted (wide rows, huge values, unreadable inferenceTime, broken BASE64)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest

from analyzer.decoding.json_rows import DecodeError
from analyzer.decoding.payloads import Base64PayloadError, DecodeOptions, payload_text
from analyzer.engines.profiler import CaptureProfiler
from sidecar.common.record import CapturedPayload
from tests.analyzer.captures import ENDPOINT, HOUR, csv_record, json_record, write_local
from tests.conftest import REPO_ROOT

WINDOW = ["--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"]
MEMORY_CAP_BYTES = 3 * 1024**3  # address space of the run: a blow-up fails instead of swapping
MAX_RSS_MB = 700
MAX_SECONDS = 60.0

# Runs the analyzer in a child with an address-space cap and reports its peak RSS and time.
_MEASURE = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    cap = int(sys.argv[1])
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    started = time.monotonic()
    try:
        done = subprocess.run(sys.argv[3:], preexec_fn=limit, capture_output=True,
                              timeout=float(sys.argv[2]))
        code = done.returncode
    except subprocess.TimeoutExpired:
        code = None
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"code": code, "seconds": seconds, "rss_mb": peak}))
    """
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("baseline")
    rows = "".join(f"0.{i % 10},{i % 7},{i % 5},{'pq'[i % 2]}\n" for i in range(200))
    (folder / "train.csv").write_text("y,a,b,c\n" + rows)
    command = [sys.executable, "-m", "analyzer", "baseline", "--dataset", str(folder / "train.csv")]
    subprocess.run([*command, "--output", str(folder)], check=True, timeout=60, cwd=REPO_ROOT)
    return folder


def good_lines(count: int) -> list[bytes]:
    return [csv_record(f"{i % 7},{i % 5},{'pq'[i % 2]}", f"0.{i % 10}") for i in range(count)]


def measured_run(baseline: Path, captures: Path, output: Path) -> dict[str, Any]:
    """`infertap-analyzer run` over `captures` in a capped child: its exit code, seconds,
    peak RSS (MB) and execution.json."""
    flags = {
        "captures": captures,
        "baseline-statistics": baseline / "statistics.json",
        "baseline-constraints": baseline / "constraints.json",
        "output": output,
        "endpoint-name": ENDPOINT,
    }
    command = [sys.executable, "-m", "analyzer", "run", *WINDOW]
    command += [part for name, value in flags.items() for part in (f"--{name}", str(value))]
    probe = [sys.executable, "-c", _MEASURE, str(MEMORY_CAP_BYTES), str(MAX_SECONDS), *command]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=MAX_SECONDS + 30)
    result: dict[str, Any] = json.loads(done.stdout)
    execution = output / "execution.json"
    result["execution"] = json.loads(execution.read_text()) if execution.exists() else None
    return result


def assert_bounded(result: dict[str, Any]) -> dict[str, int]:
    assert result["code"] in (0, 1), result  # finished, with or without violations
    assert result["seconds"] < MAX_SECONDS
    assert result["rss_mb"] < MAX_RSS_MB, result
    counts: dict[str, int] = result["execution"]["counts"]
    return counts


def test_a_row_of_half_a_million_csv_values_is_counted_not_profiled(
    baseline: Path, tmp_path: Path
) -> None:
    wide = csv_record(",".join(["1"] * 500_001), "0.5")  # about 1 MB
    write_local(tmp_path / "capture", HOUR, [*good_lines(20), wide])
    counts = assert_bounded(measured_run(baseline, tmp_path / "capture", tmp_path / "out"))
    assert counts["records"] == 21 and counts["rows"] == 20
    assert counts["wrong_column_count"] == 1 and counts["empty_records"] == 1


def test_json_instances_with_absurd_numbers_of_keys_are_counted_not_profiled(
    baseline: Path, tmp_path: Path
) -> None:
    wide_object = json_record({"instances": [{f"k{i}": i for i in range(200_000)}]}, [0.5])
    wide_list = json_record({"instances": [list(range(300_000))]}, [0.5])
    write_local(tmp_path / "capture", HOUR, [*good_lines(20), wide_object, wide_list])
    counts = assert_bounded(measured_run(baseline, tmp_path / "capture", tmp_path / "out"))
    assert counts["records"] == 22 and counts["rows"] == 20
    assert counts["wrong_column_count"] == 2 and counts["empty_records"] == 2


def test_a_five_megabyte_value_is_profiled_within_bounds(baseline: Path, tmp_path: Path) -> None:
    huge = csv_record("A" * 5_000_000 + ",1,p", "0.5")
    write_local(tmp_path / "capture", HOUR, [*good_lines(5000), huge])
    counts = assert_bounded(measured_run(baseline, tmp_path / "capture", tmp_path / "out"))
    assert counts["records"] == 5001 and counts["rows"] == 5001


def test_unreadable_inference_time_is_counted_and_warned(baseline: Path, tmp_path: Path) -> None:
    odd = orjson.loads(csv_record("1,2,p", "0.5"))
    odd["eventMetadata"]["inferenceTime"] = "not-a-time"
    write_local(tmp_path / "capture", HOUR, [*good_lines(10), orjson.dumps(odd) + b"\n"])
    result = measured_run(baseline, tmp_path / "capture", tmp_path / "out")
    execution = result["execution"]
    assert execution["counts"]["bad_inference_time"] == 1
    assert execution["records_analyzed"] == 11  # analysed all the same
    assert any("inferenceTime that is no ISO 8601 time" in w for w in execution["warnings"])


def test_invalid_base64_of_a_readable_type_is_a_decode_error(
    baseline: Path, tmp_path: Path
) -> None:
    broken = orjson.loads(csv_record("1,2,p", "0.5"))
    broken["captureData"]["endpointInput"].update(
        observedContentType="text/csv", encoding="BASE64", data="not base64!"
    )
    write_local(tmp_path / "capture", HOUR, [*good_lines(10), orjson.dumps(broken) + b"\n"])
    counts = measured_run(baseline, tmp_path / "capture", tmp_path / "out")["execution"]["counts"]
    assert counts["decode_errors"] == 1 and counts["base64_payloads"] == 0


def test_base64_errors_name_what_is_wrong() -> None:
    with pytest.raises(DecodeError, match="'text/csv' is not valid BASE64") as invalid:
        payload_text(CapturedPayload("text/csv", "not base64!", "BASE64"))
    assert not isinstance(invalid.value, Base64PayloadError)
    latin = base64.b64encode(b"\xff\xfe").decode()
    with pytest.raises(DecodeError, match="'text/csv' is not UTF-8 text") as undecodable:
        payload_text(CapturedPayload("text/csv", latin, "BASE64"))
    assert not isinstance(undecodable.value, Base64PayloadError)
    with pytest.raises(Base64PayloadError, match="'image/png'"):
        payload_text(CapturedPayload("image/png", latin, "BASE64"))


def test_long_values_are_classified_as_any_other(tmp_path: Path) -> None:
    long_text, long_number = "x" * 10_000, "0" * 5000 + "7.5"  # a long, finite number
    lines = [
        csv_record(f"{long_text},1,p", "0.5"),
        csv_record("2,1,p", "0.5"),
        json_record({"instances": [{"a": long_number, "b": 1}]}, {"predictions": [0.5]}),
    ]
    profiler = CaptureProfiler(DecodeOptions(columns=("y", "a", "b", "c")))
    profiler.add_file(b"".join(lines))
    feature = profiler.finish().feature("a")
    assert (feature.string, feature.integral, feature.fractional) == (1, 1, 1)
    assert feature.string_counts == {long_text: 1}
    assert profiler.counts.rows == 3
