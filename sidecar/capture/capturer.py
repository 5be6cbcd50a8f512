"""The capture stage: proxied exchanges into the bounded queue, and the encoder for their lines.

`stage` runs on the request path after the client has its response and never waits: the
exchange is queued as is (a refusal is counted, never retried). Its record line is made later, in
a batch, by the writer with `encoder` (redaction included), off the event loop.
"""

from __future__ import annotations

from sidecar.capture.queue import CaptureQueue
from sidecar.capture.redact import Redactor
from sidecar.common.exchange import Exchange
from sidecar.common.record import RecordEncoder, RecordFormat
from sidecar.metrics import CaptureOutcomes
from sidecar.settings import Settings


def record_encoder(settings: Settings) -> RecordEncoder:
    """The encoder of this sidecar's records: sides, text types and redaction from settings."""
    redactor = Redactor(
        settings.redact_json_fields,
        settings.redact_csv_columns,
        settings.csv_content_types,
        settings.json_content_types,
    )
    form = RecordFormat(
        capture_input=settings.capture_input,
        capture_output=settings.capture_output,
        csv_types=frozenset(settings.csv_content_types),
        json_types=frozenset(settings.json_content_types),
    )
    return RecordEncoder(form, redactor.apply if redactor.active else None)


class Capturer:
    """Stages exchanges for one endpoint variant; counts the ones it cannot stage."""

    def __init__(self, settings: Settings, queue: CaptureQueue, outcomes: CaptureOutcomes) -> None:
        self.capture_input = settings.capture_input
        self.capture_output = settings.capture_output
        self._queue = queue
        self._outcomes = outcomes
        self.count_not_sampled = outcomes.not_sampled

    def stage(self, exchange: Exchange) -> None:
        """Queue the exchange for the writer, or count why not; a body is None when it was over
        the size limit (only the sides captured count)."""
        request = exchange.request_body if self.capture_input else b""
        response = exchange.response_body if self.capture_output else b""
        if request is None or response is None:
            self._outcomes.too_large()
            return
        exchange.request_body, exchange.response_body = request, response
        if not self._queue.stage(exchange, len(request) + len(response)):
            self._outcomes.queue_full()
