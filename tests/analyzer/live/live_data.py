"""Traffic for the live tests: a baseline of known distributions made by the real `baseline`
command, and capture files written with the sidecar's record encoder in its folder layout, one
file per 10 seconds as a sidecar flushing every 10 s writes them."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from analyzer.__main__ import main as analyzer_main
from sidecar.common.exchange import BOTH_SIDES, Exchange
from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, RecordEncoder, RecordFormat

ENDPOINT = "churn"
VARIANT = "AllTraffic"
FILE_SECONDS = 10
# label (the model's score), then the inputs x ~ N(0, 1) and y ~ N(5, 2)
COLUMNS = ("score", "x", "y")

Rows = Callable[[np.random.Generator, int], np.ndarray]


def normal_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    """Rows drawn from the baseline's own distribution."""
    return np.column_stack(
        [rng.uniform(0, 1, count), rng.normal(0, 1, count), rng.normal(5, 2, count)]
    )


def shifted_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    """x moved by one standard deviation."""
    rows = normal_rows(rng, count)
    rows[:, 1] += 1.0
    return rows


def stuck_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    """A broken sensor: x reads 0."""
    rows = normal_rows(rng, count)
    rows[:, 1] = 0.0
    return rows


def make_baseline(
    folder: Path, rows: int = 5000, seed: int = 7, x_shift: float = 0.0
) -> tuple[Path, Path]:
    """statistics.json and constraints.json by `infertap-analyzer baseline` on a CSV dataset
    (`x_shift`: x of the dataset moved by that much)."""
    data = normal_rows(np.random.default_rng(seed), rows)
    data[:, 1] += x_shift
    dataset = folder / "train.csv"
    lines = [",".join(COLUMNS)] + [",".join(f"{v:.4f}" for v in row) for row in data]
    dataset.write_text("\n".join(lines) + "\n")
    out = folder / "baseline"
    with contextlib.redirect_stdout(io.StringIO()):
        code = analyzer_main(
            ["baseline", "--dataset", str(dataset), "--header", "--output", str(out)]
        )
    assert code == 0
    return out / "statistics.json", out / "constraints.json"


@dataclass
class Traffic:
    """Writes requests at a fixed rate into capture files of FILE_SECONDS each."""

    root: Path
    per_minute: float
    seed: int = 1
    instances: int = 1  # rows per request: JSON {"instances": [...]} when more than one

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        # The sidecar's own encoder, kept across files as the sidecar keeps it.
        self.encoder = RecordEncoder(RecordFormat())

    def write(self, start: datetime, end: datetime, rows: Rows = normal_rows) -> int:
        """Requests evenly spread over [start, end); returns how many were written."""
        gap = 60.0 / self.per_minute
        written = 0
        opened = start
        while opened < end:
            closes = min(opened + timedelta(seconds=FILE_SECONDS), end)
            first = int(np.ceil((opened - start).total_seconds() / gap))
            last = int(np.ceil((closes - start).total_seconds() / gap))
            moments = [start + timedelta(seconds=i * gap) for i in range(first, last)]
            if moments:
                self.write_file(opened, moments, rows)
                written += len(moments)
            opened = closes
        return written

    def write_file(self, opened: datetime, moments: list[datetime], rows: Rows) -> Path:
        folder = self.root / partition_key(ENDPOINT, VARIANT, opened)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(opened, uuid.uuid4())
        data = rows(self.rng, len(moments) * self.instances).round(4).tolist()
        lines = []
        for index, moment in enumerate(moments):
            request, response = _payloads(
                data[index * self.instances : (index + 1) * self.instances]
            )
            exchange = Exchange(moment.timestamp(), "/invocations", capture=BOTH_SIDES)
            exchange.request_type, exchange.request_body = request.content_type, request.body
            exchange.response_type, exchange.response_body = response.content_type, response.body
            lines.append(self.encoder.line(exchange).data)
        path.write_bytes(b"".join(lines))
        return path


def _payloads(rows: list[list[float]]) -> tuple[Payload, Payload]:
    """One CSV line each way for one row; JSON {"instances"}/{"predictions"} for several."""
    if len(rows) == 1:
        score, x, y = rows[0]
        return Payload("text/csv", f"{x},{y}".encode()), Payload("text/csv", f"{score}".encode())
    instances = [{"x": x, "y": y} for _, x, y in rows]
    request = orjson.dumps({"instances": instances})
    response = orjson.dumps({"predictions": [score for score, _, _ in rows]})
    return Payload("application/json", request), Payload("application/json", response)
