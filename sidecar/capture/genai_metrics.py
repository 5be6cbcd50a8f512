"""GenAI metrics of the traffic, after OpenTelemetry's GenAI semantic conventions (DESIGN.md 10):
what each stream or response adds to the instruments sidecar.metrics defines.

Every OpenAI-compatible stream is observed (sampled for capture or not), and the `usage` of every
non-streamed JSON response that reports one. The `model` label is bounded: `--gen-ai-models`
lists the values kept, else the first `MAX_MODELS` seen are; every other model is `other`.
"""

from __future__ import annotations

from typing import Any

import orjson

from sidecar.capture.streams import (
    ASSEMBLED,
    ASSEMBLY_OUTCOMES,
    COMPLETED,
    UNPARSABLE,
    StreamResult,
)
from sidecar.common.record import media_type
from sidecar.metrics import GenAiInstruments

MAX_MODELS = 10
OTHER_MODEL = "other"
UNKNOWN_MODEL = "unknown"
_USAGE_KEY = b'"usage"'


class ModelLabels:
    """Model names -> bounded label values."""

    def __init__(self, allowed: tuple[str, ...], limit: int = MAX_MODELS) -> None:
        self._fixed = bool(allowed)
        self._seen: set[str] = set(allowed)
        self._limit = limit

    def label(self, model: Any) -> str:
        if not isinstance(model, str) or not model:
            return UNKNOWN_MODEL
        if model in self._seen:
            return model
        if self._fixed or len(self._seen) >= self._limit:
            return OTHER_MODEL
        self._seen.add(model)
        return model


class GenAiMetrics:
    """Observes streams and responses into the GenAI instruments (defined in sidecar.metrics)."""

    def __init__(self, instruments: GenAiInstruments, models: tuple[str, ...] = ()) -> None:
        # `models`: the label values kept (--gen-ai-models); empty: the first MAX_MODELS seen.
        self._models = ModelLabels(models)
        self.time_to_first_token = instruments.time_to_first_token
        self.time_per_output_token = instruments.time_per_output_token
        self.tokens = instruments.tokens
        self.streams = instruments.streams
        self._assembly = {
            kind: instruments.event_streams.labels(kind) for kind in ASSEMBLY_OUTCOMES
        }

    def observe_stream(self, result: StreamResult) -> None:
        """One finished stream; streams that are not OpenAI-compatible are not GenAI traffic."""
        if result.kind is None:
            return
        self._assembly[result.kind].inc()
        if result.kind not in (ASSEMBLED, UNPARSABLE):
            return
        model = self._models.label(result.model)
        self.streams.labels(model, result.outcome).inc()
        self._count_tokens(model, result.prompt_tokens, result.completion_tokens)
        first = result.time_to_first_token
        if first is None:
            return
        self.time_to_first_token.labels(model).observe(first)
        tokens = result.completion_tokens or result.content_events
        if result.outcome == COMPLETED and tokens > 1:
            per_token = max(0.0, result.duration - first) / (tokens - 1)
            self.time_per_output_token.labels(model).observe(per_token)

    def observe_response(self, content_type: str, body: bytes | None) -> None:
        """A non-streamed response: its usage, when it is JSON and reports one."""
        if not body or _USAGE_KEY not in body or not media_type(content_type).endswith("json"):
            return
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        usage = document.get("usage") if isinstance(document, dict) else None
        if not isinstance(usage, dict):
            return
        model = self._models.label(document.get("model"))
        self._count_tokens(
            model, _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
        )

    def _count_tokens(self, model: str, prompt: int | None, completion: int | None) -> None:
        if prompt:
            self.tokens.labels(model, "input").inc(prompt)
        if completion:
            self.tokens.labels(model, "output").inc(completion)


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None
