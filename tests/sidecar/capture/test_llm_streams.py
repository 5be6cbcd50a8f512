"""Token streams end to end: the official `openai` SDK -> `python -m sidecar` -> a real upstream
(the OpenAI fixture server, LiteLLM's proxy server); the record, the GenAI metrics, bad input.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from tests.conftest import wait_until
from tests.sidecar.conftest import SidecarProcess, launch_sidecar
from tests.sidecar.llm_servers import MASTER_KEY, LlmServer, litellm_proxy, llm_upstream
from tests.sidecar.llm_upstream import CHAT, body_for

__all__ = ["litellm_proxy", "llm_upstream"]  # session fixtures used here

SSE = "text/event-stream; charset=utf-8"


@pytest.fixture(scope="module")
def fixture_sidecar(
    llm_upstream: LlmServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarProcess]:
    process = launch_sidecar(
        llm_upstream.url,
        tmp_path_factory.mktemp("llm"),
        upstream_timeout=1,
        upstream_health_path="/ping",
    )
    yield process
    process.kill()


@pytest.fixture(scope="module")
def litellm_sidecar(
    litellm_proxy: LlmServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarProcess]:
    process = launch_sidecar(
        litellm_proxy.url,
        tmp_path_factory.mktemp("litellm-sidecar"),
        upstream_health_path="/health/liveliness",
    )
    yield process
    process.kill()


def record_of(sidecar: SidecarProcess, inference_id: str) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [
            r for r in sidecar.records() if r["eventMetadata"].get("inferenceId") == inference_id
        ]

    wait_until(lambda: found(), timeout=15, what=f"record {inference_id}")
    return found()[0]


def client(sidecar: SidecarProcess, path: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=sidecar.url + path, api_key=MASTER_KEY, max_retries=0)


def chat(model: str, inference_id: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "extra_headers": {"X-Inference-Id": inference_id},
    }


def test_openai_sdk_stream_is_captured_as_the_response(fixture_sidecar: SidecarProcess) -> None:
    inference_id = uuid.uuid4().hex
    stream = client(fixture_sidecar).chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **chat("fixture", inference_id)
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "The capital of France is Paris. Café ☕"
    record = record_of(fixture_sidecar, inference_id)
    output = record["captureData"]["endpointOutput"]
    assert output["observedContentType"] == SSE and output["encoding"] == "JSON"
    response = orjson.loads(output["data"])
    assert response["object"] == "chat.completion"
    assert response["choices"][0]["message"]["content"] == text
    assert response["usage"]["total_tokens"] == 23
    metadata = record["eventMetadata"]
    assert metadata["stream"] is True and metadata["events"] == 12
    assert metadata["promptTokens"] == 14 and metadata["completionTokens"] == 9
    assert metadata["finishReason"] == "stop" and "clientDisconnected" not in metadata
    assert 0 < metadata["timeToFirstTokenMs"] < metadata["streamDurationMs"]
    model = "gpt-4o-mini-2024-07-18"
    assert fixture_sidecar.metric("infertap_gen_ai_tokens_total", model=model, type="output") >= 9
    assert (
        fixture_sidecar.metric("infertap_gen_ai_time_to_first_token_seconds_count", model=model)
        >= 1
    )


def test_azure_style_paths_and_tool_calls(fixture_sidecar: SidecarProcess) -> None:
    inference_id = uuid.uuid4().hex
    azure = openai.OpenAI(
        base_url=fixture_sidecar.url + "/openai/deployments/gpt4o",
        api_key="k",
        max_retries=0,
        default_query={"api-version": "2024-10-21"},
    )
    stream = azure.chat.completions.create(stream=True, **chat("tools", inference_id))
    calls = [c.choices[0].delta.tool_calls for c in stream if c.choices]
    assert any(calls)
    record = record_of(fixture_sidecar, inference_id)
    message = orjson.loads(record["captureData"]["endpointOutput"]["data"])["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert [c["function"]["arguments"] for c in message["message"]["tool_calls"]] == [
        '{"city":"Paris"}',
        '{"tz":"CET"}',
    ]


async def raw_stream(sidecar: SidecarProcess, model: str, inference_id: str) -> bytes:
    """The bytes the client got (all of them, even when the connection was cut)."""
    body = orjson.dumps({"model": model, "stream": True, "messages": []})
    received = bytearray()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sidecar.url + "/v1/chat/completions",
            data=body,
            headers={"X-Inference-Id": inference_id, "Content-Type": "application/json"},
        ) as response,
    ):
        try:
            async for chunk in response.content.iter_any():
                received += chunk
        except aiohttp.ClientPayloadError:
            pass
    return bytes(received)


@pytest.mark.parametrize(
    ("model", "assembly"),
    [
        ("fixture", "assembled"),
        ("no-done", "assembled"),
        ("malformed", "unparsable"),
        ("non-utf8", "unparsable"),
        ("not-json", "other"),
    ],
)
async def test_bad_streams_reach_the_client_exactly_and_are_marked(
    fixture_sidecar: SidecarProcess, model: str, assembly: str
) -> None:
    before = fixture_sidecar.metric("infertap_capture_event_streams_total", assembly=assembly)
    completed = {"model": "gpt-4o-mini-2024-07-18", "outcome": "completed"}
    completed_before = fixture_sidecar.metric("infertap_gen_ai_streams_total", **completed)
    inference_id = uuid.uuid4().hex
    assert await raw_stream(fixture_sidecar, model, inference_id) == body_for(model)
    record = record_of(fixture_sidecar, inference_id)
    output = record["captureData"]["endpointOutput"]
    if assembly == "assembled":
        assert output["encoding"] == "JSON"
    else:
        assert output["encoding"] == "BASE64"
        assert base64.b64decode(output["data"]) == body_for(model)
    after = fixture_sidecar.metric("infertap_capture_event_streams_total", assembly=assembly)
    assert after == before + 1
    if model in ("no-done", "malformed", "non-utf8"):
        # Ended cleanly, its choice finished: completed even without [DONE], or with one event
        # that did not parse (unparsable is not truncated, and the model is still known).
        assert "truncated" not in record["eventMetadata"]
        assert record["eventMetadata"]["finishReason"] == "stop"
        wait_until(
            lambda: (
                fixture_sidecar.metric("infertap_gen_ai_streams_total", **completed)
                == completed_before + 1
            ),
            timeout=10,
            what="the stream counted completed under its model",
        )


async def test_a_huge_event_is_passed_whole_and_counted_too_large(
    fixture_sidecar: SidecarProcess,
) -> None:
    before = fixture_sidecar.metric("infertap_capture_records_total", outcome="too_large")
    inference_id = uuid.uuid4().hex
    assert await raw_stream(fixture_sidecar, "huge", inference_id) == body_for("huge")
    wait_until(
        lambda: (
            fixture_sidecar.metric("infertap_capture_records_total", outcome="too_large")
            == before + 1
        ),
        timeout=10,
        what="too_large counted",
    )
    ids = [r["eventMetadata"].get("inferenceId") for r in fixture_sidecar.records()]
    assert inference_id not in ids  # never stored empty


async def test_a_stalled_stream_is_cut_and_recorded_truncated(
    fixture_sidecar: SidecarProcess,
) -> None:
    inference_id = uuid.uuid4().hex
    received = await raw_stream(fixture_sidecar, "stall", inference_id)
    assert received == b"\n\n".join(CHAT.split(b"\n\n")[:2]) + b"\n\n"
    record = record_of(fixture_sidecar, inference_id)
    assert record["eventMetadata"]["truncated"] is True
    assert record["eventMetadata"]["events"] == 2
    assert "clientDisconnected" not in record["eventMetadata"]
    key = {"model": "gpt-4o-mini-2024-07-18", "outcome": "upstream_truncated"}
    assert fixture_sidecar.metric("infertap_gen_ai_streams_total", **key) >= 1


def test_litellm_streams_and_plain_responses(litellm_sidecar: SidecarProcess) -> None:
    inference_id = uuid.uuid4().hex
    stream = client(litellm_sidecar).chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **chat("mock-gpt", inference_id)
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from a mocked model."
    record = record_of(litellm_sidecar, inference_id)
    response = orjson.loads(record["captureData"]["endpointOutput"]["data"])
    assert response["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
    ]
    assert record["eventMetadata"]["completionTokens"] == response["usage"]["completion_tokens"]
    plain = client(litellm_sidecar).chat.completions.create(**chat("mock-gpt", "plain-1"))
    assert plain.usage is not None
    expected = plain.usage.prompt_tokens + record["eventMetadata"]["promptTokens"]
    wait_until(
        lambda: (
            litellm_sidecar.metric("infertap_gen_ai_tokens_total", model="mock-gpt", type="input")
            >= expected
        ),
        timeout=5,
        what="input tokens of both requests",
    )


def test_time_to_first_token_with_real_delays(litellm_sidecar: SidecarProcess) -> None:
    inference_id = uuid.uuid4().hex
    stream = client(litellm_sidecar).chat.completions.create(
        stream=True, **chat("delayed-fast", inference_id)
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    metadata = record_of(litellm_sidecar, inference_id)["eventMetadata"]
    assert metadata["timeToFirstTokenMs"] >= 20  # the provider waits 20 ms per word
    assert metadata["streamDurationMs"] >= metadata["timeToFirstTokenMs"] + 7 * 20
    count = litellm_sidecar.metric(
        "infertap_gen_ai_time_per_output_token_seconds_count", model="delayed-fast"
    )
    assert count >= 1


def test_a_client_that_goes_away_cancels_the_upstream_at_once(
    litellm_sidecar: SidecarProcess, litellm_proxy: LlmServer
) -> None:
    inference_id = uuid.uuid4().hex
    seen_before = len(litellm_proxy.provider_lines())
    stream = client(litellm_sidecar).chat.completions.create(
        stream=True, **chat("delayed-pause", inference_id)
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    # The upstream is silent for 30 s after its first word: only a proxy that watches its
    # client notices the hang-up before then, and closes the upstream request.
    wait_until(
        lambda: len(litellm_proxy.provider_lines()) > seen_before,
        timeout=5,
        what="the upstream stream to be cancelled",
    )
    assert litellm_proxy.provider_lines()[seen_before] == "cancelled 1"
    metadata = record_of(litellm_sidecar, inference_id)["eventMetadata"]
    assert metadata["clientDisconnected"] is True and metadata["truncated"] is True
    assert metadata["events"] == 1 and metadata["timeToFirstTokenMs"] > 0
    key = {"model": "delayed-pause", "outcome": "client_disconnected"}
    assert litellm_sidecar.metric("infertap_gen_ai_streams_total", **key) == 1


def test_fixture_files_are_byte_exact() -> None:
    data = (Path(__file__).parents[1] / "data" / "openai_chat_stream.sse").read_bytes()
    assert data.count(b"\n\n") == 13 and data.endswith(b"data: [DONE]\n\n")
