"""A real HTTP model whose SHAP values are known: a linear score of CSV rows, served on
127.0.0.1 from a thread (aiohttp), answering CSV or JSON, or failing on purpose."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from aiohttp import web

from tests.conftest import free_port


@dataclass
class LinearModel:
    weights: tuple[float, ...]
    bias: float = 0.1
    answer: str = "csv"  # csv | json
    fail_with: int | None = None  # answer every call with this status
    delay: float = 0.0  # seconds before answering
    calls: int = 0
    rows: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def score(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        result: npt.NDArray[np.float64] = matrix @ np.asarray(self.weights) + self.bias
        return result

    async def invocations(self, request: web.Request) -> web.Response:
        with self.lock:
            self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            return web.Response(status=self.fail_with, text="model exploded")
        text = await request.text()
        matrix = np.asarray(
            [[float(v) for v in line.split(",")] for line in text.splitlines() if line],
            dtype=np.float64,
        )
        with self.lock:
            self.rows += len(matrix)
        scores = self.score(matrix).tolist()
        if self.answer == "json":
            return web.json_response({"predictions": [{"score": s} for s in scores]})
        return web.Response(text="".join(f"{s!r}\n" for s in scores), content_type="text/csv")


@contextmanager
def serve(model: LinearModel) -> Iterator[str]:
    """The model at http://127.0.0.1:PORT/invocations until the block ends."""
    loop = asyncio.new_event_loop()
    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/invocations", model.invocations)
    runner = web.AppRunner(app)
    port = free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
