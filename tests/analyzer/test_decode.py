"""Payload decoding: every shape, SageMaker's own capture files, hooks, and bad payloads counted."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.decoding.csv_fast import integral_mask
from analyzer.decoding.json_rows import json_rows
from analyzer.decoding.payloads import DecodeOptions, Decoder, csv_rows
from analyzer.decoding.records import split_records
from analyzer.engines.profiler import CaptureProfiler
from analyzer.errors import ConfigError
from analyzer.profiling.types import classify_one
from sidecar.common.record import CapturedPayload, Payload, build_record, parse_record
from tests.analyzer.captures import HOUR, csv_record, json_record

SAMPLE_COLUMNS = ("label", *(f"c{i}" for i in range(69)))


def decode_line(line: bytes, columns: tuple[str, ...], **options: Any) -> list[dict[str, Any]]:
    record = parse_record(line)
    decoder = Decoder(DecodeOptions(columns=columns, **options))
    return decoder.rows(record.endpoint_input, record.endpoint_output)


def profile_of(
    lines: list[bytes], columns: tuple[str, ...], batch_rows: int = 4096, **options: Any
) -> CaptureProfiler:
    profiler = CaptureProfiler(DecodeOptions(columns=columns, **options), batch_rows)
    profiler.add_file(b"".join(lines))
    profiler.finish()
    return profiler


def test_sagemaker_csv_capture_sample_lines_up_output_first(shared_data: Path) -> None:
    lines = (shared_data / "sagemaker-capture-sample.jsonl").read_bytes().splitlines(True)
    rows = [decode_line(line, SAMPLE_COLUMNS)[0] for line in lines]
    assert [r["label"] for r in rows] == [
        "0.036397725343704224",
        "0.3791300654411316",
        "0.017852725461125374",
    ]
    assert [r["c0"] for r in rows] == ["132", "130", "85"]
    assert rows[0]["c68"] == "1" and len(rows[0]) == 70

    profiler = profile_of(lines, SAMPLE_COLUMNS)
    profile = profiler.profile
    assert profiler.counts.records == 3 and profiler.counts.rows == 3
    label = profile.feature("label")
    assert label.fractional == 3 and math.isclose(
        label.sum, 0.036397725343704224 + 0.3791300654411316 + 0.017852725461125374
    )
    assert profile.feature("c0").integral == 3 and profile.feature("c2").fractional == 3
    assert profile.feature("c0").min == 85 and profile.feature("c0").max == 132


def test_sagemaker_sdk_json_capture_gives_one_row_per_instance(shared_data: Path) -> None:
    lines = (shared_data / "sagemaker-sdk-captured-data.jsonl").read_bytes().splitlines(True)
    rows = decode_line(lines[0], ("prediction", "x"))
    assert rows == [
        {"prediction": 3.5, "x": 1.0},
        {"prediction": 4.0, "x": 2.0},
        {"prediction": 5.5, "x": 5.0},
    ]
    profiler = profile_of(lines, ("prediction", "x"))
    assert profiler.counts.rows == 6
    assert profiler.profile.feature("x").sum == 16.0


@pytest.mark.parametrize(
    ("document", "rows"),
    [
        ({"a": 1, "b": "x"}, [{"a": 1, "b": "x"}]),
        ([{"a": 1}, {"a": 2}], [{"a": 1}, {"a": 2}]),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]]),
        ([1, 2, 3], [[1, 2, 3]]),
        (7.5, [[7.5]]),
        ({"instances": [[1, 2], [3, 4]]}, [[1, 2], [3, 4]]),
        ({"instances": [{"a": 1}]}, [{"a": 1}]),
        ({"instances": [1.0, 2.0]}, [[1.0], [2.0]]),
        ({"predictions": [0.1, 0.9]}, [[0.1], [0.9]]),
        ({"inputs": {"a": [1, 2], "b": [3, 4]}}, [{"a": 1, "b": 3}, {"a": 2, "b": 4}]),
        ({"inputs": [[1, 2]]}, [[1, 2]]),
        ({"a": {"b": 1, "c": [2, 3]}}, [{"a.b": 1, "a.c.0": 2, "a.c.1": 3}]),
        # Open Inference Protocol: one tensor of rows -> positional rows (batch = shape[0]).
        (
            {
                "inputs": [
                    {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}
                ]
            },
            [[1, 2, 3], [4, 5, 6]],
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [[1, 2]]}]},
            [[1, 2]],
        ),
        # Several tensors -> named features.
        (
            {
                "inputs": [
                    {"name": "age", "shape": [2, 1], "datatype": "INT32", "data": [30, 40]},
                    {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
                    {"name": "v", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]},
                ]
            },
            [
                {"age": 30, "city": "a", "v.0": 1, "v.1": 2},
                {"age": 40, "city": "b", "v.0": 3, "v.1": 4},
            ],
        ),
        (
            {"outputs": [{"name": "p", "shape": [2, 1], "datatype": "FP32", "data": [0.2, 0.8]}]},
            [[0.2], [0.8]],
        ),
    ],
)
def test_json_shapes(document: Any, rows: list[Any]) -> None:
    assert json_rows(document) == rows


def test_oip_single_named_tensor_keeps_its_name_when_the_baseline_has_it() -> None:
    tensor = {"name": "age", "shape": [2], "datatype": "INT32", "data": [1, 2]}
    assert json_rows({"inputs": [tensor]}, frozenset({"age"})) == [{"age": 1}, {"age": 2}]


def test_named_json_rows_and_output_column_first() -> None:
    line = json_record({"instances": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}, [0.5, 0.7])
    assert decode_line(line, ("score", "a", "b")) == [
        {"score": 0.5, "a": 1, "b": "x"},
        {"score": 0.7, "a": 2, "b": "y"},
    ]


def test_json_lines_payload() -> None:
    line = build_record(
        inference_time=HOUR,
        request=Payload("application/jsonlines", b'{"a": 1}\n{"a": 2}\n'),
        response=None,
    )
    assert decode_line(line, ("a",), output_columns=0) == [{"a": 1}, {"a": 2}]


def test_monitor_one_side_only() -> None:
    line = csv_record("1,2", "0.9")
    assert decode_line(line, ("y", "a", "b"), monitor="input") == [{"a": "1", "b": "2"}]
    assert decode_line(line, ("y", "a", "b"), monitor="output") == [{"y": "0.9"}]


def test_input_only_capture_is_placed_after_the_output_columns() -> None:
    line = csv_record("1,2", None)
    assert decode_line(line, ("y", "a", "b")) == [{"a": "1", "b": "2"}]


def test_wrong_column_counts_are_counted_and_padded_or_extended() -> None:
    lines = [csv_record("1,2", "0"), csv_record("1", "0"), csv_record("1,2,3", "0")]
    profiler = profile_of(lines, ("y", "a", "b"))
    assert profiler.counts.wrong_column_count == 2
    profile = profiler.profile
    assert profile.feature("b").missing == 1  # the short row
    assert profile.feature("_c3").integral == 1  # the long row's extra value
    assert profile.item_count == 3


def test_base64_payloads_decode_by_content_type_or_are_counted() -> None:
    def side(content_type: str, body: bytes) -> CapturedPayload:
        return CapturedPayload(content_type, base64.b64encode(body).decode(), "BASE64")

    decoder = Decoder(DecodeOptions(columns=("y", "a")))
    rows = decoder.rows(side("application/vnd.x+json", b'{"a": 3}'), None)
    assert rows == [{"a": 3}]
    assert decoder.rows(side("image/png", b"\x89PNG"), None) == []
    assert decoder.rows(side("text/csv", b"\xff\xfe"), None) == []
    bad = CapturedPayload("text/csv", "not base64!", "BASE64")
    assert decoder.rows(bad, None) == []
    # Only the type no decoder reads is a BASE64 payload; broken data of a readable type (not
    # BASE64, not UTF-8) is a decode error.
    assert decoder.counts.base64_payloads == 1
    assert decoder.counts.decode_errors == 2


def test_malformed_json_payload_is_a_decode_error() -> None:
    decoder = Decoder(DecodeOptions(columns=("a",)))
    payload = CapturedPayload("application/json", '{"a": ', "JSON")
    assert decoder.rows(payload, None) == []
    assert decoder.counts.decode_errors == 1


def test_record_hook_by_dotted_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_hooks.py").write_text(
        "def decode(body, content_type, mode):\n"
        "    if content_type != 'application/x-pairs':\n"
        "        return None\n"
        "    return [dict(p.split('=') for p in body.decode().split('&'))]\n"
        "def broken(body, content_type, mode):\n"
        "    raise RuntimeError('boom')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pairs = CapturedPayload("application/x-pairs", base64.b64encode(b"a=1&b=2").decode(), "BASE64")
    for spec in ("my_hooks:decode", "my_hooks.decode"):
        decoder = Decoder(DecodeOptions(columns=("a", "b"), record_hook=spec))
        assert decoder.rows(pairs, None) == [{"a": "1", "b": "2"}]
        # Not handled by the hook: the built-in decoders take over.
        assert decoder.rows(CapturedPayload("text/csv", "5,6", "CSV"), None) == [
            {"a": "5", "b": "6"}
        ]
    decoder = Decoder(DecodeOptions(columns=("a", "b"), record_hook="my_hooks:broken"))
    assert decoder.rows(pairs, None) == []
    assert decoder.counts.decode_errors == 1
    with pytest.raises(ConfigError, match="no function"):
        Decoder(DecodeOptions(columns=("a",), record_hook="my_hooks:missing"))
    with pytest.raises(ConfigError, match="cannot import"):
        Decoder(DecodeOptions(columns=("a",), record_hook="no_such_module_xyz:f"))


def test_truncated_last_line_and_malformed_lines_are_counted() -> None:
    good = csv_record("1,2", "0")
    lines = [good, b"{not json\n", b"[1, 2]\n", good, good[: len(good) // 2]]
    profiler = profile_of(lines, ("y", "a", "b"))
    assert profiler.counts.records == 2
    assert profiler.counts.malformed_lines == 2
    assert profiler.counts.truncated_files == 1
    # A complete last record without its newline is not truncation.
    assert split_records(good + good.rstrip(b"\n")) == ([good.rstrip(b"\n")] * 2, False)


def test_a_side_without_text_data_is_a_decode_error_and_no_row() -> None:
    broken = orjson.loads(csv_record("1,2", "0"))
    broken["captureData"]["endpointInput"]["data"] = 12
    profiler = profile_of([csv_record("3,4", "1"), orjson.dumps(broken) + b"\n"], ("y", "a", "b"))
    counts = profiler.counts
    assert (counts.records, counts.rows, counts.decode_errors, counts.empty_records) == (2, 1, 1, 1)
    assert counts.records - counts.skipped_records == 1


def test_non_numeric_values_fall_back_to_text_classification() -> None:
    lines = [csv_record(f"{i},{i}.5", "0") for i in range(10)]
    lines += [csv_record("abc,true", "0"), csv_record(",1.5", "0"), csv_record("nan,2.0", "0")]
    profile = profile_of(lines, ("y", "a", "b"), batch_rows=4).profile
    a, b = profile.feature("a"), profile.feature("b")
    assert (a.integral, a.string, a.missing) == (10, 2, 1)
    assert (b.fractional, b.string) == (12, 1)


@st.composite
def numeric_text(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "dec", "whole-dec", "exp"]))
    if kind == "int":
        return str(draw(st.integers(-(10**12), 10**12)))
    if kind == "whole-dec":
        return f"{draw(st.integers(-1000, 1000))}.0"
    value = draw(st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False))
    return f"{value:.3e}" if kind == "exp" else f"{value:.4f}"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(numeric_text(), min_size=3, max_size=3), min_size=1, max_size=20))
def test_fast_path_classifies_like_deequ(rows: list[list[str]]) -> None:
    texts = [",".join(r) for r in rows]
    matrix = np.array([[float(v) for v in r] for r in rows])
    expected = [[classify_one(v) == "Integral" for v in r] for r in rows]
    assert integral_mask(texts, matrix).tolist() == expected

    lines = [csv_record(",".join(r[1:]), r[0]) for r in rows]
    profile = profile_of(lines, ("y", "a", "b"), batch_rows=7).profile
    for j, name in enumerate(("y", "a", "b")):
        feature = profile.feature(name)
        assert feature.integral == sum(e[j] for e in expected)
        assert feature.fractional == len(rows) - feature.integral
        assert math.isclose(feature.sum, sum(float(r[j]) for r in rows), rel_tol=1e-9, abs_tol=1e-6)


csv_value = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.5f}"),
    st.text(alphabet="abcxyz _-", min_size=1, max_size=6).map(str.strip).filter(bool),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(csv_value, min_size=1, max_size=8), csv_value)
def test_csv_record_round_trip(inputs: list[str], output: str) -> None:
    columns = ("out", *(f"f{i}" for i in range(len(inputs))))
    line = csv_record(",".join(inputs), output)
    assert parse_record(line).endpoint_input is not None
    assert decode_line(line, columns) == [dict(zip(columns, [output, *inputs], strict=True))]


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(alphabet="abcdef", min_size=1, max_size=4), json_scalar, min_size=1))
def test_json_object_round_trip(document: dict[str, Any]) -> None:
    line = json_record(document, None)
    assert decode_line(line, tuple(document), output_columns=0) == [document]
    assert csv_rows(" 1 , 2 \n\n3,4\n") == [["1", "2"], ["3", "4"]]
    assert orjson.loads(orjson.dumps(document)) == document


def test_quoted_csv_goes_through_the_csv_reader() -> None:
    assert decode_line(csv_record('1,"a,b",3', None), ("a", "b", "c"), output_columns=0) == [
        {"a": "1", "b": "a,b", "c": "3"}
    ]


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="--monitor"):
        DecodeOptions(columns=("a",), monitor="sideways")
    with pytest.raises(ConfigError, match="--output-columns"):
        DecodeOptions(columns=("a",), output_columns=3)


def test_error_responses_and_truncated_bodies_are_skipped_and_counted() -> None:
    def record(**extensions: object) -> bytes:
        return build_record(
            inference_time=HOUR,
            request=Payload("text/csv", b"1,2"),
            response=Payload("application/json", b'{"error": "upstream timed out"}'),
            extensions={"path": "/invocations", **extensions},
        )

    lines = [csv_record("1,2", "0"), record(status=504), record(status=200, truncated=True)]
    profiler = profile_of(lines, ("y", "a", "b"))
    assert profiler.counts.records == 3 and profiler.counts.rows == 1
    assert (profiler.counts.error_responses, profiler.counts.truncated_records) == (1, 1)
    assert profiler.profile.columns == ["y", "a", "b"]
