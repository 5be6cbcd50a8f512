"""Test helpers for model quality: captures with inference ids, and their labels on disk or S3."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from analyzer.reading.ground_truth import label_record
from sidecar.common.layout import file_name
from sidecar.common.record import Payload, build_record
from tests.analyzer.captures import ENDPOINT, HOUR, VARIANT, capture_key

LABEL_HOUR = HOUR + timedelta(hours=3)


def scored_record(inference_id: str | None, output: Any, csv: bool = True) -> bytes:
    """A capture whose response is a CSV score (text) or a JSON document."""
    body = output.encode() if csv else orjson.dumps(output)
    kind = "text/csv" if csv else "application/json"
    return build_record(
        inference_time=HOUR + timedelta(minutes=5),
        request=Payload("text/csv", b"1,2,3"),
        response=Payload(kind, body),
        inference_id=inference_id,
    )


def label_lines(pairs: Sequence[tuple[str, Any]], encoding: str = "CSV") -> bytes:
    return b"".join(label_record(i, label, encoding) for i, label in pairs)


def capture_file(root: Path, lines: Sequence[bytes]) -> Path:
    path = root / "capture" / capture_key(HOUR)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))
    return path


def label_file(root: Path, data: bytes, minutes: int = 1) -> Path:
    moment = LABEL_HOUR + timedelta(minutes=minutes)
    path = root / "labels" / f"{LABEL_HOUR:%Y/%m/%d/%H}" / file_name(moment, uuid.uuid4())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def quality_args(root: Path, output: str = "out", **extra: str) -> list[str]:
    args = {
        "--captures": str(root / "capture"),
        "--ground-truth": str(root / "labels"),
        "--endpoint-name": ENDPOINT,
        "--variant-name": VARIANT,
        "--baseline-constraints": str(root / "baseline" / "constraints.json"),
        "--problem-type": "BinaryClassification",
        "--probability-attribute": "0",
        "--start": "2026-11-25T08:00:00Z",
        "--end": "2026-11-25T09:00:00Z",
        "--output": str(root / output),
        **extra,
    }
    return ["quality-run", *(item for pair in args.items() for item in pair)]
