"""Kernel SHAP of a model reached over HTTP, with the `shap` package (imported when first used:
it is heavy), against the analysis config's SHAP baseline.

The call budget is known before any call: shap's KernelExplainer calls the model once on the
baseline rows, then for each explained row once on the row and once on its synthetic samples
(`num_samples` coalitions x baseline rows, at most 2^M - 2 coalitions for M features); the
client splits each call into batches of `batch_rows`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import numpy.typing as npt

from analyzer.errors import ConfigError

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Budget:
    rows: int  # rows to explain
    samples: int  # coalitions per row
    calls: int  # HTTP requests, in all

    def text(self) -> str:
        return f"Kernel SHAP: {self.rows} rows x {self.samples} samples: {self.calls} model calls"


def samples_per_row(features: int, num_samples: int | None) -> int:
    """shap's own choice: `2M + 2048` unless given, at most 2^M - 2 (every coalition)."""
    wanted = num_samples if num_samples is not None else 2 * features + 2**11
    return min(wanted, 2**features - 2) if features <= 30 else wanted


def budget(
    rows: int, features: int, baseline_rows: int, num_samples: int | None, batch: int
) -> Budget:
    samples = samples_per_row(features, num_samples)
    per_row = 1 + (math.ceil(samples * baseline_rows / batch) if features > 1 else 0)
    return Budget(rows, samples, math.ceil(baseline_rows / batch) + rows * per_row)


def rows_within(
    calls: int, features: int, baseline_rows: int, num_samples: int | None, batch: int
) -> int:
    """How many rows fit in `calls` model calls."""
    one = budget(1, features, baseline_rows, num_samples, batch)
    first = budget(0, features, baseline_rows, num_samples, batch).calls
    return max(0, (calls - first) // (one.calls - first))


@dataclass(frozen=True, slots=True)
class Explanation:
    values: Matrix  # rows x features
    expected_value: float
    seconds: float = 0.0  # wall time of the explainer (model calls included, shap's import not)


def explain(
    predict: Callable[[Matrix], Matrix],
    rows: Matrix,
    baseline: Matrix,
    samples: int,
    seed: int | None,
    use_logit: bool = False,
    progress: TextIO | None = sys.stderr,
) -> Explanation:
    """Local SHAP values of each row (shap's KernelExplainer, seeded as Clarify seeds it)."""
    import shap

    started = time.perf_counter()
    if seed is not None:
        np.random.seed(seed)  # shap's KernelExplainer samples coalitions from numpy's global state
    explainer = shap.KernelExplainer(predict, baseline, link="logit" if use_logit else "identity")
    found = np.zeros(rows.shape, dtype=np.float64)
    bar = Progress(len(rows), progress)
    for number in range(len(rows)):
        values = explainer.shap_values(rows[number : number + 1], nsamples=samples, silent=True)
        found[number] = np.asarray(values, dtype=np.float64).reshape(-1)[: rows.shape[1]]
        bar.step()
    bar.done()
    expected = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
    return Explanation(found, float(expected[0]), time.perf_counter() - started)


def aggregate(values: Matrix, method: str) -> Matrix:
    """Clarify's global SHAP value per feature: mean |phi|, median phi, or mean phi^2."""
    if method == "mean_abs":
        means: Matrix = np.abs(values).mean(axis=0)
        return means
    if method == "median":
        median: Matrix = np.median(values, axis=0)
        return median
    if method == "mean_sq":
        squares: Matrix = (values**2).mean(axis=0)
        return squares
    raise ConfigError(f"methods.shap.agg_method {method!r} is not one of mean_abs, median, mean_sq")


class Progress:
    """`SHAP [#####     ] 5/10 rows` on a terminal; a line per tenth elsewhere."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.stream, self.done_rows = total, stream, 0
        self.started = time.monotonic()
        self.tty = bool(stream is not None and stream.isatty())
        self.shown = -1

    def step(self) -> None:
        self.done_rows += 1
        if self.stream is None or self.total == 0:
            return
        tenth = self.done_rows * 10 // self.total
        if not self.tty and tenth == self.shown:
            return
        self.shown = tenth
        filled = self.done_rows * 20 // self.total
        line = (
            f"SHAP [{'#' * filled}{' ' * (20 - filled)}] {self.done_rows}/{self.total} rows, "
            f"{time.monotonic() - self.started:.1f}s"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None and self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
