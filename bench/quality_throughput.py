"""Model-quality throughput: join captured predictions to labels and compute the metrics.

Method (printed with the results):
  * Data: N capture records as the sidecar writes them (sidecar.common.record.build_record), a CSV
    request of 10 numbers and a one-number CSV score response, each with an X-Inference-Id, in
    files of ~8 MiB under one hour folder; labels for 80 % of them (SageMaker ground-truth
    records, CSV encoding) in files of 100,000 labels three hours later. Local disk.
  * Measured in a fresh child process (so its peak RSS is the run's own): read every label file
    into the label table, stream every capture file through it, then compute SageMaker's binary
    classification metrics (curves, AUC, 5 resampled standard deviations) and the CBPE
    estimates: analyzer.pipeline.quality's steps, without writing reports. One core does the
    work (a reader thread only waits on the disk).

Usage: python bench/quality_throughput.py [--records 1000000] [--labelled 0.8]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.checking.quality.attributes import Attribute
from analyzer.checking.quality.estimate import estimate
from analyzer.checking.quality.join import join_captures
from analyzer.checking.quality.labels import read_labels
from analyzer.checking.quality.predictions import Predictor
from analyzer.checking.quality.statistics import quality_statistics
from analyzer.reading.ground_truth import label_record
from analyzer.reading.storage import list_objects_sync
from analyzer.results.quality_counts import QualityCounts
from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record

HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)
FILE_BYTES = 8 * 1024 * 1024
LABELS_PER_FILE = 100_000


def write_data(root: Path, records: int, labelled: float) -> None:
    rng = random.Random(7)
    folder = root / "capture" / partition_key("bench", "AllTraffic", HOUR)
    folder.mkdir(parents=True)
    chunk: list[bytes] = []
    size = 0
    labels: list[bytes] = []
    for i in range(records):
        score = rng.random()
        inputs = ",".join(f"{rng.random() * 100:.3f}" for _ in range(10)).encode()
        line = build_record(
            inference_time=HOUR + timedelta(seconds=i % 3600),
            request=Payload("text/csv", inputs),
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


def measure(root: Path) -> dict[str, float]:
    """The child's work: labels -> table, captures -> joined rows, metrics and estimates."""
    started = time.perf_counter()
    counts = QualityCounts()
    predictor = Predictor("BinaryClassification", None, Attribute.parse("0", "p"))
    label_urls = [f.url for f in list_objects_sync(str(root / "labels"))]
    capture_urls = [f.url for f in list_objects_sync(str(root / "capture"))]
    table = read_labels(label_urls, predictor, counts, concurrency=4)
    labels_done = time.perf_counter()
    joined = join_captures(capture_urls, table, predictor, counts, concurrency=4)
    joined_done = time.perf_counter()
    truth = np.asarray(joined.labels)
    quality_statistics(
        "BinaryClassification", truth, np.asarray(joined.predictions), np.asarray(joined.scores)
    )
    estimate(np.asarray(joined.all_scores), np.asarray(joined.all_predictions), None)
    finished = time.perf_counter()
    return {
        "captures": counts.captures,
        "labels": counts.labels,
        "joined": counts.joined,
        "labels_seconds": labels_done - started,
        "join_seconds": joined_done - labels_done,
        "metrics_seconds": finished - joined_done,
        "total_seconds": finished - started,
        "peak_rss_mib": peak_rss_mib(),
    }


def peak_rss_mib() -> float:
    """This process's peak RSS since exec (VmHWM; ru_maxrss would include the parent's, as
    Linux carries it across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--labelled", type=float, default=0.8)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child))))
        return 0
    print(__doc__.split("Usage:")[0].strip())
    with tempfile.TemporaryDirectory(prefix="infertap-quality-bench-") as folder:
        root = Path(folder)
        began = time.perf_counter()
        write_data(root, args.records, args.labelled)
        print(f"\ndata: {args.records:,} captures written in {time.perf_counter() - began:.1f}s")
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(root)],
            capture_output=True,
            text=True,
            check=True,
        )
    found = json.loads(child.stdout.strip().splitlines()[-1])
    total = found["total_seconds"]
    print(f"captures {found['captures']:,}  labels {found['labels']:,}  joined {found['joined']:,}")
    print(
        f"labels read {found['labels_seconds']:.2f}s, join {found['join_seconds']:.2f}s, "
        f"metrics + estimates {found['metrics_seconds']:.2f}s, total {total:.2f}s"
    )
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at the end")
    print(
        f"throughput: {found['joined'] / total:,.0f} joined records/s "
        f"({found['captures'] / total:,.0f} captures/s) on one core; "
        f"peak RSS {found['peak_rss_mib']:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
