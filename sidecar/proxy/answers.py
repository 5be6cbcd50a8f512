"""Answers the proxy gives itself (JSON bodies, `Expect`) and its throttled warnings."""

from __future__ import annotations

import logging
import traceback

import aiohttp
import orjson
from aiohttp import web

from sidecar.common.logs import Throttle


async def answer_expect(request: web.BaseRequest) -> web.Response | None:
    """What aiohttp's router does before a handler runs: on HTTP/1.1, `100-continue` gets its
    interim response (the client then sends the body), any other expectation a 417."""
    if request.version != aiohttp.HttpVersion11:
        return None
    expect = request.headers["Expect"]
    if expect.lower() != "100-continue":
        return json_response(417, {"error": "expectation_failed", "detail": "only 100-continue"})
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    # The interim response is not part of the response body size aiohttp accounts for.
    request.writer.output_size = 0
    return None


def json_response(status: int, body: dict[str, str], close: bool = False) -> web.Response:
    """An answer the sidecar gives itself; `close` ends the connection after it."""
    response = web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
    if close:
        response.force_close()
    return response


def raised_at(exc: BaseException) -> str:
    """`file:line` where `exc` was raised: enough to find a bug, never a value."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename.rpartition('/')[2]}:{frames[-1].lineno}" if frames else ""


class ThrottledLog:
    """At most one warning per reason per interval, so an upstream outage does not flood logs;
    `occurrences` says how many failures the line stands for."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self._log = logger
        self._interval = interval
        self._reasons: dict[str, Throttle] = {}

    def warning(self, message: str, reason: str, **fields: object) -> None:
        throttle = self._reasons.get(reason)
        if throttle is None:
            throttle = self._reasons[reason] = Throttle(self._interval)
        if occurrences := throttle.add(1):
            self._log.warning(
                message, extra={"fields": {"reason": reason, "occurrences": occurrences, **fields}}
            )
