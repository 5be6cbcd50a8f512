"""Bias drift throughput: the model-quality join with the facets read from each captured input,
then Clarify's pre- and post-training bias metrics.

Method (printed with the results):
  * Data: N capture records as the sidecar writes them, a CSV request of 4 features (age, sex,
    region code, income) and a one-number CSV score, each with an X-Inference-Id, in files of
    ~8 MiB under one hour folder; labels for 80 % of them in files of 100,000 labels. Local disk.
  * Measured in fresh child processes (so each peak RSS is the run's own), side by side on the
    same files: (a) the join alone, as quality-run does it; (b) the join reading the facets (sex,
    age, region as the group variable) from every input, then every bias metric of both stages
    for a categorical facet (sex) and a threshold facet (age > 40): analyzer.pipeline.bias's
    steps without writing reports. One core does the work.

Usage: python bench/bias_throughput.py [--records 1000000] [--labelled 0.8]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.checking.quality.attributes import Attribute
from analyzer.checking.quality.join import join_captures
from analyzer.checking.quality.labels import read_labels
from analyzer.checking.quality.predictions import Predictor
from analyzer.clarify import bias, config
from analyzer.clarify.bias_run import bias_data
from analyzer.clarify.inputs import InputColumns
from analyzer.clarify.record import BiasCounts
from analyzer.reading.ground_truth import label_record
from analyzer.reading.storage import list_objects_sync
from analyzer.results.quality_counts import QualityCounts
from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record

HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)
FILE_BYTES = 8 * 1024 * 1024
LABELS_PER_FILE = 100_000
CONFIG = {
    "headers": ["label", "age", "sex", "region", "income"],
    "label": "label",
    "label_values_or_threshold": [1],
    "facet": [
        {"name_or_index": "sex", "value_or_threshold": [0]},
        {"name_or_index": "age", "value_or_threshold": [40]},
    ],
    "group_variable": "region",
    "probability_threshold": 0.5,
    "methods": {"pre_training_bias": {"methods": "all"}, "post_training_bias": {"methods": "all"}},
}


def peak_rss_mib() -> float:
    """This process's peak RSS since exec (VmHWM: ru_maxrss would carry the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_data(root: Path, records: int, labelled: float) -> None:
    rng = random.Random(7)
    folder = root / "capture" / partition_key("bench", "AllTraffic", HOUR)
    folder.mkdir(parents=True)
    chunk: list[bytes] = []
    size = 0
    labels: list[bytes] = []
    for i in range(records):
        sex = rng.random() < 0.5
        score = min(0.99, rng.random() * (1.2 if sex else 0.9))
        inputs = f"{rng.randint(18, 80)},{int(sex)},{rng.randint(0, 4)},{rng.gauss(50, 15):.2f}"
        line = build_record(
            inference_time=HOUR + timedelta(seconds=i % 3600),
            request=Payload("text/csv", inputs.encode()),
            response=Payload("text/csv", f"{score:.4f}".encode()),
            inference_id=f"req-{i}",
        )
        chunk.append(line)
        size += len(line)
        if size >= FILE_BYTES:
            (folder / file_name(HOUR, uuid.uuid4())).write_bytes(b"".join(chunk))
            chunk, size = [], 0
        if rng.random() < labelled:
            labels.append(label_record(f"req-{i}", int(rng.random() < score)))
    if chunk:
        (folder / file_name(HOUR, uuid.uuid4())).write_bytes(b"".join(chunk))
    label_hour = HOUR + timedelta(hours=3)
    label_folder = root / "labels" / f"{label_hour:%Y/%m/%d/%H}"
    label_folder.mkdir(parents=True)
    for start in range(0, len(labels), LABELS_PER_FILE):
        name = file_name(label_hour + timedelta(seconds=start // LABELS_PER_FILE))
        (label_folder / name).write_bytes(b"".join(labels[start : start + LABELS_PER_FILE]))


def measure(root: Path, with_bias: bool) -> dict[str, float]:
    """The child's work: labels -> table, captures -> joined rows (+ facets), bias metrics."""
    started = time.perf_counter()
    cfg = config.parse(CONFIG)
    counts = QualityCounts()
    predictor = Predictor("BinaryClassification", None, Attribute.parse("0", "p"))
    label_urls = [f.url for f in list_objects_sync(str(root / "labels"))]
    capture_urls = [f.url for f in list_objects_sync(str(root / "capture"))]
    table = read_labels(label_urls, predictor, counts, concurrency=4)
    labels_done = time.perf_counter()
    collector = InputColumns(["sex", "age", "region"], cfg.features) if with_bias else None
    joined = join_captures(capture_urls, table, predictor, counts, 4, collector)
    joined_done = time.perf_counter()
    if collector is not None:
        data = bias_data(collector, joined, predictor, BiasCounts())
        for stage in (bias.PRE_TRAINING_KEY, bias.POST_TRAINING_KEY):
            bias.report(cfg, data, stage, "categorical")
    finished = time.perf_counter()
    return {
        "captures": counts.captures,
        "joined": counts.joined,
        "labels_seconds": labels_done - started,
        "join_seconds": joined_done - labels_done,
        "metrics_seconds": finished - joined_done,
        "total_seconds": finished - started,
        "peak_rss_mib": peak_rss_mib(),
    }


def child(root: Path, mode: str) -> dict[str, float]:
    found = subprocess.run(
        [sys.executable, __file__, "--child", str(root), "--mode", mode],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--labelled", type=float, default=0.8)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="bias", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child), args.mode == "bias")))
        return 0
    print(__doc__.split("Usage:")[0].strip())
    with tempfile.TemporaryDirectory(prefix="infertap-bias-bench-") as folder:
        root = Path(folder)
        began = time.perf_counter()
        write_data(root, args.records, args.labelled)
        print(f"\ndata: {args.records:,} captures written in {time.perf_counter() - began:.1f}s")
        results = {mode: child(root, mode) for mode in ("join", "bias", "join", "bias")}
    for mode in ("join", "bias"):
        found = results[mode]
        total = found["total_seconds"]
        print(
            f"{mode:>4}: joined {found['joined']:,} of {found['captures']:,}; labels "
            f"{found['labels_seconds']:.2f}s, join {found['join_seconds']:.2f}s, metrics "
            f"{found['metrics_seconds']:.2f}s, total {total:.2f}s: "
            f"{found['joined'] / total:,.0f} joined records/s, peak RSS "
            f"{found['peak_rss_mib']:.0f} MiB"
        )
    ratio = results["bias"]["total_seconds"] / results["join"]["total_seconds"]
    print(f"bias / join time: {ratio:.2f}x (second run of each)")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
