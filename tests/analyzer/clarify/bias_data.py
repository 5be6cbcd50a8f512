"""Test data for the bias monitor: a lending dataset, its captures (replayed or biased), labels."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from analyzer.reading.ground_truth import label_record
from sidecar.common.layout import file_name
from sidecar.common.record import Payload, build_record
from tests.analyzer.captures import HOUR, capture_key

HEADERS = ["label", "age", "sex", "region", "income", "predicted"]
FEATURES = ["age", "sex", "region", "income"]
ANALYSIS_CONFIG: dict[str, Any] = {
    "version": "1.0",
    "dataset_type": "text/csv",
    "headers": HEADERS,
    "label": "label",
    "predicted_label": "predicted",
    "label_values_or_threshold": [1],
    "facet": [
        {"name_or_index": "sex", "value_or_threshold": [0]},
        {"name_or_index": "age", "value_or_threshold": [40]},
    ],
    "group_variable": "region",
    "probability_threshold": 0.5,
    "methods": {
        "pre_training_bias": {"methods": "all"},
        "post_training_bias": {"methods": "all"},
    },
    "predictor": {"content_type": "text/csv", "accept_type": "text/csv", "probability": 0},
}


def rows(seed: int, size: int, favour_sex: int | None = None) -> list[dict[str, Any]]:
    """Applicants; `favour_sex` makes the model approve that group far more often."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(size):
        sex = int(rng.integers(0, 2))
        age = int(rng.integers(18, 80))
        income = round(float(rng.normal(50.0, 15.0)), 2)
        label = int(rng.random() < 0.3 + 0.2 * sex)
        score = round(float(np.clip(0.25 + 0.5 * label + rng.normal(0, 0.2), 0.01, 0.99)), 3)
        if favour_sex is not None:
            score = 0.9 if sex == favour_sex else 0.1
        found.append(
            {
                "label": label,
                "age": age,
                "sex": sex,
                "region": int(rng.integers(0, 3)),  # a code: every feature is a number
                "income": income,
                "score": score,
                "predicted": int(score > 0.5),
            }
        )
    return found


def write_dataset(path: Path, table: list[dict[str, Any]]) -> Path:
    lines = [",".join(HEADERS)] + [",".join(str(r[h]) for h in HEADERS) for r in table]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(path: Path, **changes: Any) -> Path:
    path.write_text(json.dumps({**ANALYSIS_CONFIG, **changes}))
    return path


def capture_lines(table: list[dict[str, Any]], prefix: str) -> tuple[bytes, bytes]:
    """(capture file bytes, label file bytes) for the rows, ids `prefix-N`."""
    captures, labels = [], []
    for number, row in enumerate(table):
        inference_id = f"{prefix}-{number}"
        features = ",".join(str(row[f]) for f in FEATURES)
        captures.append(
            build_record(
                inference_time=HOUR + timedelta(minutes=5),
                request=Payload("text/csv", features.encode()),
                response=Payload("text/csv", str(row["score"]).encode()),
                inference_id=inference_id,
            )
        )
        labels.append(label_record(inference_id, row["label"]))
    return b"".join(captures), b"".join(labels)


def capture_path(root: Path) -> Path:
    return root / "capture" / capture_key(HOUR)


def label_path(root: Path) -> Path:
    moment = HOUR + timedelta(hours=2)
    return root / "labels" / f"{moment:%Y/%m/%d/%H}" / file_name(moment, uuid.uuid4())


def write_window(root: Path, table: list[dict[str, Any]], prefix: str = "id") -> None:
    captures, labels = capture_lines(table, prefix)
    for path, data in ((capture_path(root), captures), (label_path(root), labels)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
