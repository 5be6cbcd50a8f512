"""The capture stage: proxied exchanges into the bounded queue, and the encoder for their lines.

`stage` runs on the request path after the client has its response and never waits: the
exchange is queued as is (a refusal is counted, never retried); what it holds was decided when
its request arrived (sidecar.capture.policy). Its record line is made later, in
a batch, by the writer with `encoder` (redaction included), a few records between requests.
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
        csv_types=frozenset(settings.csv_content_types),
        json_types=frozenset(settings.json_content_types),
    )
    return RecordEncoder(form, redactor.apply if redactor.active else None)


class Capturer:
    """Stages exchanges for one endpoint variant; counts the ones it cannot stage."""

    def __init__(self, queue: CaptureQueue, outcomes: CaptureOutcomes) -> None:
        self._queue = queue
        self._outcomes = outcomes

    def stage(self, exchange: Exchange) -> None:
        """Queue the exchange for the writer, or count why not: the drop reason the request path
        set, or a full queue. Its bodies are what the proxy copied of the sides captured."""
        if exchange.dropped is not None:
            self._outcomes.count(exchange.dropped)
            return
        if not self._queue.stage(
            exchange, len(exchange.request_body) + len(exchange.response_body)
        ):
            self._outcomes.queue_full()
