"""A stream's capture record: the assembled response as JSON under the observed type, the
stream's eventMetadata extensions, redaction applied to the assembled response."""

from __future__ import annotations

import time
from typing import Any

import orjson

from sidecar.capture.streams import StreamCapture, StreamResult
from tests.sidecar.capture.test_capture import line_of as encoded_line
from tests.sidecar.capture.test_capture import make
from tests.sidecar.capture.test_streams import CHAT, SSE


def assembled_stream() -> StreamResult:
    capture = StreamCapture(time.perf_counter(), 1 << 20, True, SSE)
    capture.feed(CHAT)
    return capture.finish(False, False)


def line_of(*flags: str) -> Any:
    *_, encoder = make(*flags)
    stream = assembled_stream()
    line = encoded_line(
        encoder,
        inference_id="id-1",
        path="/v1/chat/completions",
        request_type="application/json",
        request_body=b'{"messages": []}',
        response_type=SSE,
        response_body=stream.body,
        upstream_latency=0.002,
        event_id=None,
        assembled=stream.assembled,
        extra_metadata=stream.metadata,
    )
    return orjson.loads(line)


def test_the_assembled_response_is_json_under_the_observed_type() -> None:
    record = line_of()
    output = record["captureData"]["endpointOutput"]
    assert output["observedContentType"] == SSE and output["encoding"] == "JSON"
    assert orjson.loads(output["data"])["choices"][0]["finish_reason"] == "stop"
    metadata = record["eventMetadata"]
    assert list(metadata)[:6] == ["eventId", "inferenceId", "inferenceTime", "path", "status",
                                  "upstreamLatencyMs"]  # fmt: skip
    assert metadata["stream"] is True and metadata["completionTokens"] == 9


def test_redaction_applies_to_the_assembled_response() -> None:
    record = line_of("--redact-json-fields", "choices.message.content")
    output = record["captureData"]["endpointOutput"]
    assert orjson.loads(output["data"])["choices"][0]["message"]["content"] is None
