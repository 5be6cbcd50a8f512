"""Kernel SHAP against the example model server (scikit-learn, 30 features) over real HTTP."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from analyzer.__main__ import main
from tests.conftest import REPO_ROOT, free_port, port_open, wait_until


def test_attribution_baseline_of_the_example_model(tmp_path: Path) -> None:
    port = free_port()
    train = tmp_path / "train.csv"
    process = subprocess.Popen(
        [
            *(sys.executable, "examples/model_server.py", "--port", str(port)),
            *("--write-training-data", str(train)),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port) and train.exists(), timeout=30, what="model server")
        with train.open() as handle:
            header, *rows = list(csv.reader(handle))
        data = np.asarray(rows, dtype=np.float64)[:, 1:]
        config = {
            "headers": header,
            "label": header[0],
            "methods": {
                "shap": {"baseline": [data.mean(axis=0).round(4).tolist()], "num_samples": 64}
            },
            "predictor": {"content_type": "text/csv", "accept_type": "text/csv"},
        }
        (tmp_path / "analysis_config.json").write_text(json.dumps(config))
        code = main(
            [
                "attribution-baseline", "--dataset", str(train), "--header",
                "--analysis-config", str(tmp_path / "analysis_config.json"),
                "--model-url", f"http://127.0.0.1:{port}/invocations",
                "--max-records", "4", "--output", str(tmp_path / "out"),
            ]
        )  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert code == 0
    execution = json.loads((tmp_path / "out" / "execution.json").read_text())
    assert execution["model_calls"] == 1 + 4 * 2 and execution["rows_explained"] == 4
    assert 0 <= execution["overhead_seconds_per_call"] < 1
    document = json.loads((tmp_path / "out" / "analysis.json").read_text())
    values = document["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    assert list(values) == header[1:]
    assert sum(values.values()) > 0 and all(v >= 0 for v in values.values())
