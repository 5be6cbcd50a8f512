"""What is captured of an exchange, decided once when its request arrives (DESIGN.md section 4).

`CapturePolicy.decide` applies the method and path patterns and the sampling rate, and reads
--capture-mode and --max-capture-bytes, into one immutable `Capture` value the exchange carries:
the proxy copies the sides it names, each copy bounded by its `limit`; the capturer stages what
was copied; the record encoder writes exactly those sides. Nothing later decides again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from sidecar.capture.budget import CopyBudget, CopyHold
from sidecar.capture.sampling import Sampler
from sidecar.common.exchange import Capture
from sidecar.metrics import CaptureOutcomes
from sidecar.settings import Settings

SAGEMAKER_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"


class Decision(NamedTuple):
    """What to capture of one exchange, its inference id (None when it is not a capture
    candidate), and its share of the in-flight copy budget (None when not captured)."""

    capture: Capture
    inference_id: str | None
    hold: CopyHold | None


class CapturePolicy:
    """Decides per request whether and what to capture; counts the candidates not sampled."""

    def __init__(
        self,
        settings: Settings,
        sampler: Sampler,
        outcomes: CaptureOutcomes,
        budget: CopyBudget | None = None,
    ) -> None:
        self._sampler = sampler
        self._budget = budget or CopyBudget(settings.capture_inflight_bytes)
        self._inflight_full = outcomes.inflight_full
        self._id_header = settings.inference_id_header
        limit = settings.max_capture_bytes
        self._sampled = Capture(settings.capture_input, settings.capture_output, limit)
        # Not captured, but a stream is still followed for its GenAI figures within the limit.
        self._skipped = Capture(False, False, limit)
        self._not_sampled = outcomes.not_sampled

    def decide(self, method: str, path: str, headers: Mapping[str, str]) -> Decision:
        """What to capture of a request (its inference id from --inference-id-header, else
        SageMaker's header); a sampled one is not captured while the copy budget is spent."""
        if not self._sampler.is_candidate(method, path):
            return Decision(self._skipped, None, None)
        inference_id = headers.get(self._id_header) or headers.get(SAGEMAKER_ID_HEADER)
        if not self._sampler.keep(inference_id):
            self._not_sampled()
            return Decision(self._skipped, inference_id, None)
        hold = self._budget.hold()
        if hold is None:
            self._inflight_full()
            return Decision(self._skipped, inference_id, None)
        return Decision(self._sampled, inference_id, hold)
