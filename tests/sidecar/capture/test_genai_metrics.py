"""GenAI metrics: bounded model labels, tokens from usage (streamed or not), stream outcomes."""

from __future__ import annotations

import time

import orjson
from prometheus_client import CollectorRegistry

from sidecar.capture.genai_metrics import OTHER_MODEL, GenAiMetrics, ModelLabels
from sidecar.capture.streams import StreamCapture
from sidecar.metrics import GenAiInstruments
from sidecar.settings import parse_settings
from tests.sidecar.capture.test_streams import CHAT, SSE


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_model_labels_keep_the_first_ten_or_the_listed_ones() -> None:
    labels = ModelLabels(())
    assert [labels.label(f"m{i}") for i in range(12)][-3:] == ["m9", OTHER_MODEL, OTHER_MODEL]
    assert labels.label("m3") == "m3" and labels.label(None) == "unknown"
    listed = ModelLabels(("llama",))
    assert (listed.label("llama"), listed.label("gpt")) == ("llama", OTHER_MODEL)


def test_a_stream_and_a_plain_response_are_counted() -> None:
    registry = CollectorRegistry()
    metrics = GenAiMetrics(GenAiInstruments(registry), ("gpt-4o-mini-2024-07-18",))
    capture = StreamCapture(time.perf_counter(), 1 << 20, False, SSE)
    capture.feed(CHAT)
    metrics.observe_stream(capture.finish(False, False))
    model = "gpt-4o-mini-2024-07-18"
    assert sample(registry, "infertap_gen_ai_tokens_total", model=model, type="output") == 9
    assert sample(registry, "infertap_gen_ai_streams_total", model=model, outcome="completed") == 1
    count = "infertap_gen_ai_time_per_output_token_seconds_count"
    assert sample(registry, count, model=model) == 1
    plain = {"object": "chat.completion", "model": "x", "usage": {"prompt_tokens": 5}}
    metrics.observe_response("application/json", orjson.dumps(plain))
    metrics.observe_response("application/json", b'{"usage": not json')
    metrics.observe_response("text/csv", b'"usage",1')
    assert sample(registry, "infertap_gen_ai_tokens_total", model=OTHER_MODEL, type="input") == 5
    assert sample(registry, "infertap_capture_event_streams_total", assembly="assembled") == 1


def test_gen_ai_models_flag_and_environment() -> None:
    assert parse_settings([], environ={}).gen_ai_models == ()
    assert parse_settings(["--gen-ai-models", "a, b"], environ={}).gen_ai_models == ("a", "b")
    from_env = parse_settings([], environ={"INFERTAP_GEN_AI_MODELS": "llama"})
    assert from_env.gen_ai_models == ("llama",)
