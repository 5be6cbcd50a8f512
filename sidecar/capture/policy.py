"""What is captured of an exchange, decided once when its request arrives (DESIGN.md section 4).

`CapturePolicy.decide` applies the method and path patterns and the sampling rate, and reads
--capture-mode and --max-capture-bytes, into one immutable `Capture` value the exchange carries:
the proxy copies the sides it names, each copy bounded by its `limit`; the capturer stages what
was copied; the record encoder writes exactly those sides. Nothing later decides again.
"""

from __future__ import annotations

from collections.abc import Mapping

from sidecar.capture.sampling import Sampler
from sidecar.common.exchange import Capture
from sidecar.metrics import CaptureOutcomes
from sidecar.settings import Settings

SAGEMAKER_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"


class CapturePolicy:
    """Decides per request whether and what to capture; counts the candidates not sampled."""

    def __init__(self, settings: Settings, sampler: Sampler, outcomes: CaptureOutcomes) -> None:
        self._sampler = sampler
        self._id_header = settings.inference_id_header
        limit = settings.max_capture_bytes
        self._sampled = Capture(settings.capture_input, settings.capture_output, limit)
        # Not captured, but a stream is still followed for its GenAI figures within the limit.
        self._skipped = Capture(False, False, limit)
        self._not_sampled = outcomes.not_sampled

    def decide(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> tuple[Capture, str | None]:
        """The capture of a request and its inference id (from --inference-id-header, else
        SageMaker's header); the id is None when the request is not a capture candidate."""
        if not self._sampler.is_candidate(method, path):
            return self._skipped, None
        inference_id = headers.get(self._id_header) or headers.get(SAGEMAKER_ID_HEADER)
        if not self._sampler.keep(inference_id):
            self._not_sampled()
            return self._skipped, inference_id
        return self._sampled, inference_id
