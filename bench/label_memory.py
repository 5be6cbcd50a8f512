"""Memory of labels: the `ground-truth` writer's peak RSS, and the label table's bytes per id.

Method (printed with the results):
  * ground-truth: a CSV of N `inference_id,label` rows (UUID ids, labels 0/1) on local disk;
    `python -m analyzer ground-truth` runs in a fresh child process writing to a local folder;
    its peak RSS (ru_maxrss of the waited child) is reported beside the same command on a
    10-row file (the interpreter and imports), and the time it took.
  * label table: N ground-truth records (CSV encoding, UUID ids) in files of 100,000 labels;
    a fresh child process reads them into quality-run's label table
    (analyzer.checking.quality.labels.read_labels); (RSS after - RSS before reading) / N is the
    bytes held per distinct id, as the README states it, and (peak - before) / N the peak.

Usage: python bench/label_memory.py [--labels 2000000] [--table-labels 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.reading.ground_truth import label_record

ROOT = Path(__file__).resolve().parent.parent
TABLE_CHILD = """
import sys
from analyzer.checking.quality.counts import QualityCounts
from analyzer.checking.quality.labels import read_labels
from analyzer.checking.quality.predictions import Predictor
from analyzer.checking.quality.attributes import Attribute
from analyzer.reading.storage import list_objects_sync
urls = [f.url for f in list_objects_sync(sys.argv[1])]
predictor = Predictor("BinaryClassification", None, Attribute.parse("0", "p"))
def rss_kib():
    found = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(found["VmRSS"].split()[0]), int(found["VmHWM"].split()[0])
before, _ = rss_kib()
table = read_labels(urls, predictor, QualityCounts(), 4)
after, peak = rss_kib()
print(before, after, peak, len(table))
"""


def child_peak_mib(command: list[str]) -> tuple[float, float]:
    """Peak RSS (MiB) and seconds of one child process."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = _wait(process.pid)
    if status != 0:
        raise SystemExit(f"{command} failed with status {status}")
    return usage.ru_maxrss / 1024, time.monotonic() - started


def _wait(pid: int) -> tuple[int, int, resource.struct_rusage]:
    import os

    waited, status, usage = os.wait4(pid, 0)
    return waited, os.waitstatus_to_exitcode(status), usage


def write_csv(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write("inference_id,label\n")
        for i in range(rows):
            out.write(f"{uuid.UUID(int=i)},{i % 2}\n")


def ground_truth_rss(folder: Path, labels: int) -> dict[str, float]:
    big, small = folder / "labels.csv", folder / "small.csv"
    write_csv(big, labels)
    write_csv(small, 10)
    command = [sys.executable, "-m", "analyzer", "ground-truth", "--destination"]
    idle, _ = child_peak_mib([*command, str(folder / "gt-small"), "--input", str(small)])
    peak, seconds = child_peak_mib([*command, str(folder / "gt"), "--input", str(big)])
    return {"labels": labels, "peak_rss_mib": peak, "idle_rss_mib": idle, "seconds": seconds}


def table_bytes_per_id(folder: Path, labels: int) -> dict[str, float]:
    root = folder / "labels" / "2026" / "11" / "25" / "11"
    root.mkdir(parents=True)
    for start in range(0, labels, 100_000):
        rows = range(start, min(start + 100_000, labels))
        body = b"".join(label_record(str(uuid.uuid4()), i % 2) for i in rows)
        (root / f"{start:09d}.jsonl").write_bytes(body)
    done = subprocess.run(
        [sys.executable, "-c", TABLE_CHILD, str(folder / "labels")],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    before, after, peak, count = (int(x) for x in done.stdout.split())
    return {
        "labels": count,
        "bytes_per_id": (after - before) * 1024 / count,
        "peak_bytes_per_id": (peak - before) * 1024 / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=2_000_000)
    parser.add_argument("--table-labels", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="200,000 labels each")
    args = parser.parse_args()
    if args.quick:
        args.labels = args.table_labels = 200_000
    print(__doc__.split("Usage:")[0])
    with tempfile.TemporaryDirectory(prefix="infertap-bench-labels-") as name:
        writer = ground_truth_rss(Path(name), args.labels)
    print(
        f"ground-truth, {writer['labels']:,} labels: peak RSS {writer['peak_rss_mib']:.0f} MiB "
        f"(10 labels: {writer['idle_rss_mib']:.0f} MiB), {writer['seconds']:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="infertap-bench-labels-") as name:
        table = table_bytes_per_id(Path(name), args.table_labels)
    print(
        f"label table, {table['labels']:,} ids: {table['bytes_per_id']:.0f} bytes per id held "
        f"({table['peak_bytes_per_id']:.0f} at the peak, while reading)"
    )
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "label_memory.json").write_text(json.dumps({"ground_truth": writer, "table": table}))


if __name__ == "__main__":
    main()
