"""Capture: exchange -> record line (byte-exact), size limit, redaction, queue refusals."""

from __future__ import annotations

import base64
import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import orjson
import pytest

from sidecar.capture.capturer import Capturer, record_encoder
from sidecar.capture.policy import SAGEMAKER_ID_HEADER, CapturePolicy
from sidecar.capture.queue import CaptureQueue
from sidecar.capture.redact import RedactionError, Redactor
from sidecar.capture.sampling import Sampler
from sidecar.common.encoded import EncodedBatch
from sidecar.common.exchange import BOTH_SIDES, Capture, Exchange
from sidecar.common.record import (
    Payload,
    RecordEncoder,
    RecordError,
    build_record,
    captured_payload,
    parse_record,
)
from sidecar.metrics import SidecarMetrics
from sidecar.settings import parse_settings

REFERENCE = (
    b'{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
    b'"data":"132,25,113.2","encoding":"CSV"},"endpointOutput":{"observedContentType":'
    b'"text/csv; charset=utf-8","mode":"OUTPUT","data":"0.0107","encoding":"CSV"}},'
    b'"eventMetadata":{"eventId":"6ece5c74-7497-43f1-a263-4833557ffd63",'
    b'"inferenceTime":"2026-11-25T08:24:40Z"},"eventVersion":"0"}\n'
)
ARRIVED = datetime(2026, 11, 25, 8, 24, 40, 250000, tzinfo=UTC).timestamp()


def make(*flags: str) -> tuple[Capturer, CaptureQueue, SidecarMetrics, RecordEncoder]:
    settings = parse_settings(list(flags), environ={})
    queue = CaptureQueue(settings.queue_max_bytes)
    metrics = SidecarMetrics()
    capturer = Capturer(queue, metrics.capture_outcomes)
    return capturer, queue, metrics, record_encoder(settings)


def policy(*flags: str) -> tuple[CapturePolicy, SidecarMetrics]:
    settings = parse_settings(list(flags), environ={})
    metrics = SidecarMetrics()
    sampler = Sampler(
        settings.sampling_percentage, settings.capture_methods, settings.capture_paths
    )
    return CapturePolicy(settings, sampler, metrics.capture_outcomes), metrics


def decided(*flags: str) -> Capture:
    """What the policy of a sidecar started with `flags` captures of a sampled POST."""
    return policy("--sampling-percentage", "100", *flags)[0].decide("POST", "/", {}).capture


def outcome(metrics: SidecarMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value("infertap_capture_records_total", {"outcome": name})
    return value or 0.0


def exchange(**overrides: object) -> Exchange:
    """The reference exchange (a small CSV one), with `overrides`."""
    arguments: dict[str, object] = {
        "arrived": ARRIVED,
        "path": "/invocations",
        "status": 200,
        "request_type": "text/csv",
        "request_body": b"132,25,113.2",
        "response_type": "text/csv; charset=utf-8",
        "response_body": b"0.0107",
        "upstream_latency": 0.0012345,
        "event_id": "6ece5c74-7497-43f1-a263-4833557ffd63",
        "capture": BOTH_SIDES,
    }
    arguments.update(overrides)
    return Exchange(**arguments)  # type: ignore[arg-type]


def lines_of(batch: EncodedBatch) -> list[bytes]:
    return [line for hour in batch.hours for line in hour.lines()]


def line_of(encoder: RecordEncoder, **overrides: object) -> bytes:
    [line] = lines_of(encoder.encode([exchange(**overrides)]))
    return line


def test_line_is_the_reference_line_plus_metadata_extensions() -> None:
    *_, encoder = make()
    extensions = b',"path":"/invocations","status":200,"upstreamLatencyMs":1.234}'
    expected = REFERENCE.replace(b'08:24:40Z"}', b'08:24:40Z"' + extensions)
    assert line_of(encoder) == expected


def test_build_record_is_the_encoder_with_extensions() -> None:
    *_, encoder = make()
    line = build_record(
        inference_time=datetime.fromtimestamp(ARRIVED, UTC),
        request=Payload("text/csv", b"132,25,113.2"),
        response=Payload("text/csv; charset=utf-8", b"0.0107"),
        event_id="6ece5c74-7497-43f1-a263-4833557ffd63",
        extensions={"path": "/invocations", "status": 200},
    )
    assert line == line_of(encoder, upstream_latency=None)
    assert (
        build_record(
            inference_time=datetime.fromtimestamp(ARRIVED, UTC),
            request=Payload("text/csv", b"132,25,113.2"),
            response=Payload("text/csv; charset=utf-8", b"0.0107"),
            event_id="6ece5c74-7497-43f1-a263-4833557ffd63",
        )
        == REFERENCE
    )


def test_extensions_live_only_in_event_metadata() -> None:
    *_, encoder = make()
    record = orjson.loads(line_of(encoder, inference_id="abc-1", truncated=True, status=502))
    assert list(record) == ["captureData", "eventMetadata", "eventVersion"]
    assert list(record["captureData"]) == ["endpointInput", "endpointOutput"]
    assert record["eventMetadata"] == {
        "eventId": "6ece5c74-7497-43f1-a263-4833557ffd63",
        "inferenceId": "abc-1",
        "inferenceTime": "2026-11-25T08:24:40Z",
        "path": "/invocations",
        "status": 502,
        "upstreamLatencyMs": 1.234,
        "truncated": True,
    }


@pytest.mark.parametrize(
    ("mode", "sides"),
    [("input", ["endpointInput"]), ("output", ["endpointOutput"]), ("both", None)],
)
def test_capture_mode_keeps_only_the_chosen_sides(mode: str, sides: list[str] | None) -> None:
    *_, encoder = make()
    record = orjson.loads(line_of(encoder, capture=decided("--capture-mode", mode)))
    assert list(record["captureData"]) == (sides or ["endpointInput", "endpointOutput"])


def test_the_policy_decides_once_into_one_value() -> None:
    rules, metrics = policy(
        "--sampling-percentage", "50", "--capture-paths", "/invocations",
        "--max-capture-bytes", "2KiB", "--capture-mode", "input",
    )  # fmt: skip
    kept = [
        rules.decide("POST", "/invocations", {SAGEMAKER_ID_HEADER: f"id-{n}"}) for n in range(200)
    ]
    sampled = {decision.capture for decision in kept if decision.capture.sampled}
    assert sampled == {Capture(input=True, output=False, limit=2048)}
    assert 60 < sum(decision.capture.sampled for decision in kept) < 140
    assert [decision.inference_id for decision in kept] == [f"id-{n}" for n in range(200)]
    # Each sampled exchange holds a share of the copy budget; the others none.
    assert all((d.hold is not None) == d.capture.sampled for d in kept)
    # The same id is decided the same way every time; a path outside the patterns is not a
    # candidate (no id read, not counted as not_sampled).
    again = rules.decide("POST", "/invocations", {SAGEMAKER_ID_HEADER: "id-3"})
    assert again.capture == kept[3].capture
    assert rules.decide("POST", "/health", {SAGEMAKER_ID_HEADER: "id-3"}).inference_id is None
    not_sampled = sum(not decision.capture.sampled for decision in kept)
    assert outcome(metrics, "not_sampled") == not_sampled


def test_past_the_copy_budget_new_exchanges_are_not_captured_and_counted() -> None:
    rules, metrics = policy("--sampling-percentage", "100", "--capture-inflight-bytes", "1000")
    first = rules.decide("POST", "/", {})
    assert first.hold is not None and first.hold.take(1000)
    assert not first.hold.take(1)  # nothing more fits
    spent = rules.decide("POST", "/", {})
    assert not spent.capture.sampled and spent.hold is None
    assert outcome(metrics, "inflight_full") == 1
    first.hold.release()
    assert rules.decide("POST", "/", {}).capture.sampled


def test_non_utf8_body_is_base64_whatever_its_type() -> None:
    *_, encoder = make()
    body = b"\xff\xfe1,2\x80"
    record = orjson.loads(line_of(encoder, request_body=body))
    captured = record["captureData"]["endpointInput"]
    assert captured["encoding"] == "BASE64"
    assert captured["observedContentType"] == "text/csv"
    assert base64.b64decode(captured["data"]) == body


def test_structured_json_types_are_json() -> None:
    *_, encoder = make()
    for content_type in ("application/vnd.api+json", "application/problem+json; charset=utf-8"):
        record = parse_record(line_of(encoder, request_type=content_type, request_body=b"{}"))
        assert record.endpoint_input is not None and record.endpoint_input.encoding == "JSON"


def test_stage_queues_the_exchange_as_is_and_it_is_encoded_in_its_hour() -> None:
    capturer, queue, metrics, encoder = make()
    staged = exchange(request_type="application/json", request_body=b'{"a":1}', event_id=None)
    capturer.stage(staged)
    [taken] = queue.take()
    assert taken is staged
    [hour] = encoder.encode([taken]).hours
    assert hour.hour == datetime(2026, 11, 25, 8, tzinfo=UTC)
    record = parse_record(hour.data)
    assert record.endpoint_input is not None and record.endpoint_input.encoding == "JSON"
    assert record.endpoint_input.body() == b'{"a":1}'
    # Queued is not captured yet: the spool writer counts `captured` once the line is on disk.
    assert outcome(metrics, "captured") == 0


def test_a_drop_decided_on_the_request_path_is_counted_not_queued() -> None:
    capturer, queue, metrics, _ = make()
    capturer.stage(exchange(dropped="too_large"))
    capturer.stage(exchange(capture=decided("--capture-mode", "output"), request_body=b""))
    assert len(queue.take()) == 1
    assert outcome(metrics, "too_large") == 1
    assert outcome(metrics, "captured") == 0  # the queued one is the writer's to count


def test_full_queue_refuses_and_counts() -> None:
    capturer, queue, metrics, _ = make("--queue-max-bytes", "1000")
    for _ in range(5):
        capturer.stage(exchange())
    assert 1 <= len(queue) < 5
    assert outcome(metrics, "captured") == 0  # queued records are the writer's to count
    assert outcome(metrics, "queue_full") == 5 - len(queue)


def test_redaction_applies_before_the_line_is_built() -> None:
    *_, encoder = make(
        "--redact-json-fields", "customer.ssn,instances.card", "--redact-csv-columns", "0,2"
    )
    request = b'{"customer":{"ssn":"123-45-6789","age":41},"instances":[{"card":"4111","x":1}]}'
    line = line_of(
        encoder,
        request_type="application/json",
        request_body=request,
        response_body=b"1,2,3\n4,5,6\n",
        response_type="text/csv",
    )
    assert b"123-45-6789" not in line and b"4111" not in line
    record = parse_record(line)
    assert record.endpoint_input is not None and record.endpoint_output is not None
    assert orjson.loads(record.endpoint_input.body()) == {
        "customer": {"ssn": None, "age": 41},
        "instances": [{"card": None, "x": 1}],
    }
    assert record.endpoint_output.body() == b",2,\n,5,\n"


def test_unparsable_body_with_redaction_is_rejected_alone() -> None:
    *_, encoder = make("--redact-json-fields", "secret")
    broken = exchange(request_type="application/json", request_body=b'{"secret": "s", broken')
    batch = encoder.encode([exchange(), broken, exchange()])
    assert (batch.rejected, batch.failed, len(batch)) == (1, 0, 2)
    assert b"broken" not in b"".join(lines_of(batch))


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/csv", b'a,"b,1",c\r\nd,"e\nf",g\r\n', b"a,,c\r\nd,,g\r\n"),
        ("text/csv", b"1,2,3", b"1,,3"),
        ("text/csv", b"1\n\n1,2", b"1\n\n1,"),
        ("application/jsonlines", b'{"k":1,"s":2}\n{"s":3}\n', b'{"k":1,"s":null}\n{"s":null}\n'),
        ("application/json", b'[{"s":1},{"s":2,"t":3}]', b'[{"s":null},{"s":null,"t":3}]'),
        ("application/json", b'{"s":123456789012345678901234567890}', b'{"s":null}'),
        ("application/octet-stream", b'{"s":1}', b'{"s":1}'),
    ],
)
def test_redactor_shapes(content_type: str, body: bytes, expected: bytes) -> None:
    redactor = Redactor(json_fields=["s"], csv_columns=[1])
    assert redactor.apply(content_type, body) == expected


def test_redactor_index_and_wildcard_paths() -> None:
    redactor = Redactor(json_fields=["rows.0", "meta.*.token"])
    body = b'{"rows":[1,2],"meta":{"a":{"token":"x"},"b":{"token":"y","k":1}}}'
    assert orjson.loads(redactor.apply("application/json", body)) == {
        "rows": [None, 2],
        "meta": {"a": {"token": None}, "b": {"token": None, "k": 1}},
    }
    with pytest.raises(RedactionError):
        Redactor(csv_columns=[0]).apply("text/csv", b"\xff,1")


def test_event_ids_are_distinct_random_uuid4s() -> None:
    *_, encoder = make()
    batch = encoder.encode([exchange(event_id=None) for _ in range(600)])  # several id batches
    ids = [parse_record(line).event_id for line in lines_of(batch)]
    assert len(set(ids)) == 600
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # Every hex digit of the random part is used: no position is stuck.
    assert {text[0] for text in ids} == set("0123456789abcdef")
    assert {text[19] for text in ids} == set("89ab")


def test_a_batch_is_split_by_hour_in_arrival_order() -> None:
    *_, encoder = make()
    arrivals = [ARRIVED + 3600 * (n % 3) for n in range(30)]
    batch = encoder.encode(
        [exchange(arrived=t, inference_id=f"id-{n}") for n, t in enumerate(arrivals)]
    )
    assert [hour.hour.hour for hour in batch.hours] == [8, 9, 10]
    for offset, hour in enumerate(batch.hours):
        ids = [parse_record(line).inference_id for line in hour.lines()]
        assert ids == [f"id-{n}" for n in range(offset, 30, 3)]
        assert hour.ends == list(itertools.accumulate(map(len, hour.lines())))


def test_each_line_comes_with_its_own_hour() -> None:
    *_, encoder = make()
    hour = datetime(2026, 11, 25, 8, tzinfo=UTC).timestamp()
    for arrived in (ARRIVED, ARRIVED + 3600, ARRIVED, ARRIVED + 7200):
        made = encoder.line(exchange(arrived=arrived))
        assert made.hour == hour + (arrived - ARRIVED)
        assert parse_record(made.data).inference_time.timestamp() == int(arrived)


def test_build_record_from_many_threads_keeps_each_time() -> None:
    """`build_record` shares no encoder between threads: every line has its own time."""

    def lines(offset: int) -> list[tuple[float, bytes]]:
        made = []
        for n in range(300):
            moment = datetime.fromtimestamp(ARRIVED + offset * 100_000 + n * 61, UTC)
            made.append((moment.timestamp(), build_record(
                inference_time=moment, request=Payload("text/csv", b"1"), response=None
            )))  # fmt: skip
        return made

    with ThreadPoolExecutor(4) as pool:
        results = [pair for made in pool.map(lines, range(8)) for pair in made]
    for moment, line in results:
        assert parse_record(line).inference_time.timestamp() == int(moment)


def test_captured_payload_reads_one_side_of_a_parsed_record() -> None:
    *_, encoder = make()
    side = orjson.loads(line_of(encoder))["captureData"]["endpointInput"]
    payload = captured_payload(side)
    assert payload is not None and payload.body() == b"132,25,113.2"
    assert (payload.content_type, payload.encoding) == ("text/csv", "CSV")
    assert captured_payload(None) is None
    with pytest.raises(RecordError, match="no string 'data'"):
        captured_payload({"observedContentType": "text/csv", "data": 3})
