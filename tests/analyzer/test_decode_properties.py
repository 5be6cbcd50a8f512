"""Property-based tests: whatever capture lines or payloads arrive, decoding ends in a counted
outcome (rows, or a count saying why not), never an exception, and the counts add up."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.decoding.csv_fast import csv_batches
from analyzer.decoding.json_rows import DecodeError, json_rows, oip_rows
from analyzer.decoding.payloads import DecodeOptions, Decoder, csv_rows, payload_text
from analyzer.decoding.records import record_sides, split_records
from analyzer.engines.profiler import CaptureProfiler
from analyzer.results.counts import RunCounts
from sidecar.common.record import CapturedPayload

COLUMNS = ("y", "a", "b", "c")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
shape_keys = st.sampled_from(["instances", "predictions", "inputs", "outputs", "data", "x"])
json_documents = st.one_of(
    json_values,
    st.dictionaries(shape_keys, json_values, max_size=3),
    st.builds(
        lambda tensors: {"inputs": tensors},
        st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["a", "b", "y"]), "data": json_values},
                optional={"shape": st.lists(st.integers(-2, 5), max_size=3) | json_values},
            ),
            max_size=3,
        ),
    ),
)
csv_texts = st.text(alphabet=st.sampled_from(list('0123456789.,-+eE "ab\n\r')), max_size=40)
content_types = st.sampled_from(
    ["text/csv", "application/json", "application/jsonlines", "image/png", "", "x+json"]
)


def json_text(document: Any) -> str:
    return json.dumps(document)  # orjson cannot write integers beyond 64 bits


def json_bytes(document: Any) -> bytes:
    return json_text(document).encode()


def payload_data(encoding: str, text: str, raw: bytes) -> str:
    return base64.b64encode(raw).decode() if encoding == "BASE64" and raw else text


sides = st.one_of(
    st.none(),
    json_values,
    st.builds(
        lambda kind, encoding, text, raw: {
            "observedContentType": kind,
            "mode": "INPUT",
            "data": payload_data(encoding, text, raw),
            "encoding": encoding,
        },
        content_types,
        st.sampled_from(["CSV", "JSON", "BASE64", "OTHER"]),
        csv_texts | json_documents.map(json_text) | st.text(max_size=20),
        st.binary(max_size=20) | json_documents.map(json_bytes),
    ),
)
metadata = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "inferenceTime": st.sampled_from(["2026-11-25T08:00:01Z", "not-a-time", "", None]),
            "status": st.sampled_from([200, 404, 500, "500"]),
            "truncated": st.booleans(),
        },
    ),
)
records = st.builds(
    lambda inp, out, meta: {
        "captureData": {"endpointInput": inp, "endpointOutput": out},
        "eventMetadata": meta,
    },
    sides,
    sides,
    metadata,
)
lines = st.one_of(
    records.map(json_bytes),
    st.binary(max_size=30),
    json_values.map(json_bytes),
)


def assert_counts_add_up(counts: RunCounts, parsed_lines: int) -> None:
    """Every line is a record or malformed; every record is analysed (gave at least one row)
    or skipped for one reason."""
    assert counts.records + counts.malformed_lines == parsed_lines
    analysed = counts.records - counts.skipped_records
    assert 0 <= analysed <= counts.rows


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_lines_or_counted(data: bytes) -> None:
    counts = RunCounts()
    list(record_sides(data, counts, None))
    parsed, truncated = split_records(data)
    assert counts.truncated_files == int(truncated)
    assert counts.records + counts.malformed_lines == len(parsed)


@SETTINGS
@given(
    st.lists(lines, max_size=12),
    st.sampled_from(["both", "input", "output"]),
    st.sampled_from([None, 0, 1, 2]),
    st.integers(1, 5),
)
def test_arbitrary_records_end_in_rows_or_counts(
    items: list[bytes], monitor: str, output_columns: int | None, batch_rows: int
) -> None:
    options = DecodeOptions(columns=COLUMNS, monitor=monitor, output_columns=output_columns)
    profiler = CaptureProfiler(options, batch_rows)
    data = b"".join(item.replace(b"\n", b" ") + b"\n" for item in items)
    profiler.add_file(data)
    profile = profiler.finish()
    counts = profiler.counts
    assert_counts_add_up(counts, len(split_records(data)[0]))
    assert profile.item_count == counts.rows


@SETTINGS
@given(json_documents)
def test_json_shapes_give_rows_or_a_decode_error(document: Any) -> None:
    try:
        rows = json_rows(document, frozenset(COLUMNS))
    except DecodeError:
        return
    assert all(isinstance(row, list | dict) for row in rows)


@SETTINGS
@given(st.lists(st.dictionaries(st.sampled_from(["name", "data", "shape"]), json_values)))
def test_oip_tensors_give_rows_or_a_decode_error(tensors: list[dict[str, Any]]) -> None:
    with contextlib.suppress(DecodeError):
        oip_rows(tensors, frozenset(COLUMNS))


@SETTINGS
@given(csv_texts, st.integers(1, 6))
def test_csv_text_gives_rows_or_a_too_wide_error(text: str, limit: int) -> None:
    try:
        rows = csv_rows(text, limit)
    except DecodeError:
        return
    assert all(len(row) <= limit for row in rows)


@SETTINGS
@given(st.lists(csv_texts.filter(lambda t: "\n" not in t and '"' not in t), min_size=1))
def test_csv_fast_path_batches_any_line(texts: list[str]) -> None:
    width = texts[0].count(",") + 1
    rows = [t for t in texts if t.count(",") + 1 == width]
    names = [f"c{i}" for i in range(width)]
    batches = csv_batches(rows, names)
    assert sum(getattr(b, "rows", None) or len(getattr(b, "matrix", ())) for b in batches) == len(
        rows
    )


@SETTINGS
@given(content_types, st.sampled_from(["CSV", "JSON", "BASE64", "OTHER"]), st.text(max_size=30))
def test_every_payload_decodes_or_is_counted(kind: str, encoding: str, data: str) -> None:
    decoder = Decoder(DecodeOptions(columns=COLUMNS))
    payload = CapturedPayload(kind, data, encoding)
    with contextlib.suppress(DecodeError):
        payload_text(payload)
    before = sum(decoder.counts.to_json().values())
    rows = decoder.rows(payload, None)
    problems = sum(decoder.counts.to_json().values()) - before
    assert rows or problems or not decoder.side_rows(payload, "INPUT")


instance_values = st.one_of(
    st.integers(-(2**65), 2**65),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([50.0, 1e-05, 2e20, -0.0, True, False]),
)


@SETTINGS
@given(
    st.lists(st.sampled_from(["a", "a.b", "true", "x"]), min_size=1, max_size=3, unique=True),
    st.data(),
)
def test_json_instances_are_typed_value_by_value(keys: list[str], data: st.DataObject) -> None:
    """Whatever number types (or booleans) instances mix, each value is counted by its own
    type: int Integral, float Fractional, boolean String."""
    count = data.draw(st.integers(1, 30))
    instances = [{key: data.draw(instance_values) for key in keys} for _ in range(count)]
    lines = [
        json_bytes(
            {
                "captureData": {
                    "endpointInput": {"data": json_text({"instances": [item]}), "encoding": "JSON"},
                    "endpointOutput": {
                        "data": json_text({"predictions": [0.5]}),
                        "encoding": "JSON",
                    },
                }
            }
        )
        + b"\n"
        for item in instances
    ]
    profiler = CaptureProfiler(DecodeOptions(columns=("p", *keys)), batch_rows=7)
    profiler.add_file(b"".join(lines))
    profile = profiler.finish()
    for key in keys:
        # As the capture's JSON reads (orjson reads integers beyond 64 bits as floats).
        values = [orjson.loads(json_text(item))[key] for item in instances]
        feature = profile.feature(key)
        assert feature.integral == sum(type(v) is int for v in values)
        assert feature.fractional == sum(type(v) is float for v in values)
        assert feature.string == sum(type(v) is bool for v in values)
    assert profiler.counts.rows == count
