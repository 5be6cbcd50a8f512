"""Each kind of upload failure gets its own bounded `infertap_uploads_total{outcome}` value."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from sidecar.delivery.upload_failure import describe_failure, upload_outcome
from sidecar.metrics import UPLOAD_OUTCOMES

URL = "http://127.0.0.1:9/bucket/key"
KEY = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)


def connector_error(error: OSError) -> EndpointConnectionError:
    """What aiobotocore raises when aiohttp cannot connect."""
    return EndpointConnectionError(endpoint_url=URL, error=aiohttp.ClientConnectorError(KEY, error))


def slow_down() -> ClientError:
    answer = {
        "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
        "ResponseMetadata": {"HTTPStatusCode": 503},
    }
    return ClientError(answer, "PutObject")


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (connector_error(ConnectionRefusedError(111, "Connection refused")), "refused"),
        (connector_error(OSError(113, "No route to host")), "connection"),
        (ConnectionClosedError(endpoint_url=URL), "connection"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection"),
        (ConnectTimeoutError(endpoint_url=URL), "timeout"),
        (ReadTimeoutError(endpoint_url=URL), "timeout"),
        (TimeoutError(), "timeout"),
        (slow_down(), "http_error"),
        (NoCredentialsError(), "error"),
        (PermissionError(13, "Permission denied"), "error"),
    ],
)
def test_outcome(exc: BaseException, outcome: str) -> None:
    assert upload_outcome(exc) == outcome
    assert outcome in UPLOAD_OUTCOMES


def test_an_answered_error_names_its_status_and_code() -> None:
    assert describe_failure(slow_down()).startswith("HTTP 503: An error occurred (SlowDown)")
