"""The model, called over HTTP in batches for Kernel SHAP (never through a capturing sidecar).

`text/csv`: a POST of CSV rows, one a line, answered with one score a line (the score's column
is `predictor.probability` when it is an index). `application/json`: the answer's scores at
`predictor.probability` (a JSON path; `[*]` marks the per-row list, as in Clarify's
`predictions[*].score`), else a top-level list or `{"predictions": [...]}`; `application/jsonlines`:
one JSON document a line. A 5xx, 429, timeout or dropped connection is retried with back-off;
then the run fails naming the cause. Every request counts against the call budget.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
import orjson

from analyzer.checking.quality.attributes import Attribute, MissingAttribute
from analyzer.errors import AnalyzerError

RETRY_DELAYS = (0.2, 1.0)  # seconds before the second and third attempts


class ModelCallError(AnalyzerError):
    """The model did not answer usefully after the retries; the message says how it failed."""


class CallBudgetExceeded(AnalyzerError):
    """--max-model-calls would be passed."""


@dataclass(slots=True)
class ModelClient:
    url: str
    content_type: str = "text/csv"
    accept_type: str = "text/csv"
    probability: str | int | None = None
    batch_rows: int = 1000
    concurrency: int = 4
    timeout: float = 30.0
    max_calls: int | None = None
    calls: int = 0
    rows_sent: int = 0
    seconds_waiting: float = 0.0  # wall time spent in model calls
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _session: aiohttp.ClientSession | None = None

    def predict(self, rows: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Scores of the rows (a 2-D array), one per row, in order."""
        matrix = np.atleast_2d(np.asarray(rows))
        started = time.perf_counter()
        try:
            return self._loop.run_until_complete(self._predict(matrix))
        finally:
            self.seconds_waiting += time.perf_counter() - started

    def close(self) -> None:
        if self._session is not None:
            self._loop.run_until_complete(self._session.close())
        self._loop.close()

    async def _predict(self, matrix: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=self.concurrency),
            )
        batches = [matrix[i : i + self.batch_rows] for i in range(0, len(matrix), self.batch_rows)]
        gate = asyncio.Semaphore(self.concurrency)

        async def one(batch: npt.NDArray[Any]) -> list[float]:
            async with gate:
                return await self._call(batch)

        answers = await asyncio.gather(*(one(b) for b in batches))
        return np.asarray([s for answer in answers for s in answer], dtype=np.float64)

    async def _call(self, batch: npt.NDArray[Any]) -> list[float]:
        body = encode(batch, self.content_type)
        failure = ""
        for attempt in range(len(RETRY_DELAYS) + 1):
            if attempt:
                await asyncio.sleep(RETRY_DELAYS[attempt - 1])
            if self.max_calls is not None and self.calls >= self.max_calls:
                raise CallBudgetExceeded(f"--max-model-calls {self.max_calls} reached")
            self.calls += 1
            try:
                status, text = await self._post(body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if status == 200:
                self.rows_sent += len(batch)
                return scores(text, self.accept_type, self.probability, len(batch))
            failure = f"HTTP {status}: {text[:200].strip()}"
            if status < 500 and status != 429:
                break
        raise ModelCallError(f"the model at {self.url} failed: {failure}")

    async def _post(self, body: bytes) -> tuple[int, str]:
        assert self._session is not None
        headers = {"Content-Type": self.content_type, "Accept": self.accept_type}
        async with self._session.post(self.url, data=body, headers=headers) as response:
            return response.status, await response.text()


def encode(batch: npt.NDArray[Any], content_type: str) -> bytes:
    rows = batch.tolist()
    if content_type == "text/csv":
        return "".join(",".join(map(_text, row)) + "\n" for row in rows).encode()
    return b"".join(orjson.dumps({"features": row}) + b"\n" for row in rows)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def scores(
    text: str, accept_type: str, probability: str | int | None, expected: int
) -> list[float]:
    """One score per row from the model's answer; ModelCallError when they do not match."""
    try:
        if accept_type == "text/csv":
            column = int(probability) if probability is not None else 0
            found = [float(line.split(",")[column]) for line in text.splitlines() if line.strip()]
        elif accept_type == "application/jsonlines":
            path = _paths(probability)[1]
            found = [_pick(orjson.loads(line), path) for line in text.splitlines() if line.strip()]
        else:
            found = _json_scores(orjson.loads(text), probability)
    except (ValueError, IndexError, MissingAttribute, orjson.JSONDecodeError) as exc:
        raise ModelCallError(f"the model's answer does not hold scores: {exc}") from None
    if len(found) != expected:
        raise ModelCallError(f"the model answered {len(found)} scores for {expected} rows")
    if not all(math.isfinite(s) for s in found):
        raise ModelCallError("the model answered a score that is not a finite number")
    return found


def _paths(probability: str | int | None) -> tuple[Attribute | None, Attribute | None]:
    """(path to the per-row list, path within each row) of `predictions[*].score`."""
    if probability is None:
        return None, None
    text = str(probability)
    if "[*]" in text:
        head, tail = text.split("[*]", 1)
        tail = tail.lstrip(".")
        return (
            Attribute.parse(head, "predictor.probability") if head else None,
            Attribute.parse(tail, "predictor.probability") if tail else None,
        )
    return None, Attribute.parse(text, "predictor.probability")


def _pick(document: Any, path: Attribute | None) -> float:
    value = document if path is None else path.from_document(document)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return float(value)


def _json_scores(document: Any, probability: str | int | None) -> list[float]:
    if probability is not None and "[*]" not in str(probability):
        value = Attribute.parse(str(probability), "predictor.probability").from_document(document)
        return [_pick(item, None) for item in (value if isinstance(value, list) else [value])]
    head, tail = _paths(probability)
    if head is not None:
        items = head.from_document(document)
    elif isinstance(document, dict) and "predictions" in document:
        items = document["predictions"]
    else:
        items = document
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ValueError("no list of per-row answers")
    return [_pick(item, tail) for item in items]
