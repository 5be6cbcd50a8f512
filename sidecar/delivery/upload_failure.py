"""Upload failures as the metrics see them: the `infertap_uploads_total{outcome}` value.

The outcome comes from a bounded set (see `sidecar.metrics.UPLOAD_OUTCOMES`): `refused`,
`connection`, `timeout`, `http_error`, or `error` for everything else (a local destination that
cannot be written, a spool file that cannot be read, a bug).
"""

from __future__ import annotations

import errno

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from sidecar.metrics import (
    UPLOAD_CONNECTION,
    UPLOAD_ERROR,
    UPLOAD_HTTP_ERROR,
    UPLOAD_REFUSED,
    UPLOAD_TIMEOUT,
)


def upload_outcome(exc: BaseException) -> str:
    """The outcome label for an exception raised by one attempt to put a file."""
    if isinstance(exc, ClientError):
        return UPLOAD_HTTP_ERROR
    if isinstance(exc, (TimeoutError, ConnectTimeoutError, ReadTimeoutError)):
        return UPLOAD_TIMEOUT
    if isinstance(exc, EndpointConnectionError):
        return UPLOAD_REFUSED if _refused(exc) else UPLOAD_CONNECTION
    # The store's connection closed or reset, a proxy or TLS failure; ConnectionError is the
    # builtin (reset, aborted, broken pipe), BotoConnectionError botocore's family.
    if isinstance(exc, (HTTPClientError, BotoConnectionError, ConnectionError)):
        return UPLOAD_CONNECTION
    return UPLOAD_ERROR


def describe_failure(exc: BaseException) -> str:
    """A short message naming the failure, with the store's HTTP status when it answered."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"HTTP {status}: {exc}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _refused(exc: EndpointConnectionError) -> bool:
    """Whether the connection was refused (nothing listens), walking the wrapped errors."""
    seen: BaseException | None = exc.kwargs.get("error")
    for _ in range(5):  # the wrapping is shallow; bounded against odd cycles
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return True
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return False
