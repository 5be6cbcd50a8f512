"""Feature attribution: what Kernel SHAP costs on top of the model's own time.

Method (printed with the results):
  * The example model server (examples/model_server.py: scikit-learn, 30 features, CSV in, one
    score a line out) on 127.0.0.1, started once.
  * attribution-baseline's steps (analyzer.pipeline.attribution) on its training data: R rows of
    a seeded sample, S coalitions each, one SHAP baseline row (the feature means), batches of
    B rows, C calls at once. Measured: model calls, seconds spent waiting for the model, and the
    rest of the explainer's time (shap's sampling and regression, our batching and parsing)
    divided by the number of calls: the analyzer's overhead per model call.
  * Beside it, the same number of calls of the same sizes posted by the client alone (no SHAP):
    the model's own calls per second.

Usage: python bench/shap_overhead.py [--rows 20] [--samples 256] [--batch-rows 1000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.clarify.attribution_run import AttributionJob, run_attribution
from analyzer.clarify.model_client import ModelClient
from tests.conftest import free_port, port_open, wait_until

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(__doc__.split("Usage:")[0].strip())
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="infertap-shap-bench-") as folder:
        root = Path(folder)
        train = root / "train.csv"
        server = subprocess.Popen(
            [sys.executable, "examples/model_server.py", "--port", str(port),
             "--write-training-data", str(train)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_until(lambda: port_open(port) and train.exists(), timeout=60, what="model")
            result = _measure(root, train, port, args)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(result)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    return 0


def _measure(root: Path, train: Path, port: int, args: argparse.Namespace) -> str:
    header, *rows = list(csv.reader(io.StringIO(train.read_text())))
    data = np.asarray(rows, dtype=np.float64)[:, 1:]
    config = {
        "headers": header,
        "label": header[0],
        "methods": {
            "shap": {
                "baseline": [data.mean(axis=0).round(4).tolist()],
                "num_samples": args.samples,
                "seed": 1,
            }
        },
        "predictor": {"content_type": "text/csv", "accept_type": "text/csv"},
    }
    (root / "analysis_config.json").write_text(json.dumps(config))
    url = f"http://127.0.0.1:{port}/invocations"
    job = AttributionJob(
        analysis_config=str(root / "analysis_config.json"), model_url=url,
        output=str(root / "out"), dataset=str(train), header=True, max_records=args.rows,
        batch_rows=args.batch_rows, concurrency=args.concurrency, progress=None,
    )  # fmt: skip
    began = time.perf_counter()
    found = run_attribution(job)
    total = time.perf_counter() - began
    if found.status == "Failed":
        return f"attribution failed: {found.failure_reason}"
    details = found.details
    calls, waiting = details["model_calls"], details["seconds_in_model"]
    # The model alone: the same calls (one row, then the coalitions of a row) without SHAP.
    client = ModelClient(url, batch_rows=args.batch_rows, concurrency=args.concurrency)
    one, coalitions = data[:1], np.repeat(data[:1], args.samples, axis=0)
    started = time.perf_counter()
    client.predict(one)
    for _ in range(args.rows):
        client.predict(one)
        client.predict(coalitions)
    alone = time.perf_counter() - started
    client.close()
    return (
        f"SHAP: {details['rows_explained']} rows x {args.samples} samples: {calls} model calls, "
        f"{details['model_rows']:,} rows scored; {total:.2f}s in all (shap's import and the "
        f"dataset read included), {waiting:.2f}s waiting for the model; overhead "
        f"{details['overhead_seconds_per_call'] * 1000:.2f} ms per model call; "
        f"{calls / waiting:.1f} calls/s while explaining\n"
        f"model alone: {client.calls} calls of the same sizes in {alone:.2f}s: "
        f"{client.calls / alone:.1f} calls/s"
    )


if __name__ == "__main__":
    sys.exit(main())
