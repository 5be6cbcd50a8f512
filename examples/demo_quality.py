"""`make demo`, model quality: post labels for the captured traffic, then join them to the captured
predictions and check SageMaker's model-quality metrics on a good hour and on a failing hour.

The model's true labels are unknown for resampled traffic, so the demo plays the labelling team:
each label is the model's own decision, flipped for a share of the requests (2 % in the good
hour: the model is right; 35 % in the failing hour: it is wrong a third of the time). The
model-quality baseline is a validation set of the good hour's scores with 8 % of labels flipped.
Labels are posted with `infertap-analyzer ground-truth`, keyed by each capture's eventId (the
demo's clients send no X-Inference-Id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from demo_analysis import TIME_FORMAT, AnalyzerFailed, analyzer

from sidecar.common.record import parse_record

FLIPPED = {"good": 0.02, "failing": 0.35}
BASELINE_FLIPPED = 0.08
EXPECTED = {"good": "Completed", "failing": "CompletedWithViolations"}
QUALITY_FOLDERS = ("labels", "ground-truth", "baseline-quality", "model-quality")
STATUS = {0: "Completed", 1: "CompletedWithViolations", 2: "Failed"}


@dataclass
class QualityReport:
    hour: str  # "good" or "failing"
    endpoint: str
    status: str = "not run"
    joined: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def captured_scores(captures: Path, endpoint: str) -> list[tuple[str, float]]:
    """(join key, score) of every captured exchange of an endpoint."""
    found = []
    for path in sorted((captures / endpoint).rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            record = parse_record(line)
            if record.endpoint_output is not None:
                key = record.inference_id or record.event_id
                found.append((key, float(record.endpoint_output.data.split("\n")[0])))
    return found


def labelled(scores: list[tuple[str, float]], flipped: float, seed: int) -> list[tuple[str, int]]:
    """The model's decisions as labels, a `flipped` share of them turned over."""
    flips = np.random.default_rng(seed).random(len(scores)) < flipped
    return [
        (key, int(score > 0.5) ^ int(flip))
        for (key, score), flip in zip(scores, flips, strict=True)
    ]


def post_labels(out: Path, name: str, labels: list[tuple[str, int]], written_at: datetime) -> None:
    source = out / "labels" / f"{name}.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("inference_id,label\n" + "".join(f"{k},{v}\n" for k, v in labels))
    args = ["ground-truth", "--destination", str(out / "ground-truth"), "--input", str(source)]
    args += ["--written-at", written_at.strftime(TIME_FORMAT)]
    if analyzer(args, out / "logs" / f"ground-truth-{name}.log") != 0:
        raise AnalyzerFailed(f"posting the {name} labels failed; see {out / 'logs'}")


def quality_baseline(out: Path, scores: list[tuple[str, float]]) -> Path:
    rows = labelled(scores, BASELINE_FLIPPED, seed=3)
    dataset = out / "labels" / "validation.csv"
    dataset.parent.mkdir(parents=True, exist_ok=True)
    dataset.write_text(
        "label,probability\n"
        + "".join(f"{label},{score}\n" for (_, label), (_, score) in zip(rows, scores, strict=True))
    )
    args = ["quality-baseline", "--dataset", str(dataset), "--header"]
    args += ["--problem-type", "BinaryClassification", "--ground-truth-attribute", "label"]
    args += ["--probability-attribute", "probability", "--output", str(out / "baseline-quality")]
    if analyzer(args, out / "logs" / "quality-baseline.log") != 0:
        raise AnalyzerFailed(f"quality-baseline failed; see {out / 'logs'}")
    return out / "baseline-quality" / "constraints.json"


def quality_run(
    out: Path, report: QualityReport, constraints: Path, window: tuple[datetime, datetime]
) -> None:
    output = out / "model-quality" / report.endpoint
    args = ["quality-run", "--captures", str(out / "capture")]
    args += ["--ground-truth", str(out / "ground-truth"), "--endpoint-name", report.endpoint]
    args += ["--baseline-constraints", str(constraints), "--output", str(output)]
    args += ["--problem-type", "BinaryClassification", "--probability-attribute", "0"]
    args += ["--start", window[0].strftime(TIME_FORMAT), "--end", window[1].strftime(TIME_FORMAT)]
    code = analyzer(args, out / "logs" / f"quality-run-{report.endpoint}.log")
    report.status = STATUS.get(code, f"exit {code}")
    record = json.loads((output / "execution.json").read_text())
    report.joined = int(record["item_count"])
    report.metrics = record["metrics"]
    violations = json.loads((output / "constraint_violations.json").read_text())["violations"]
    report.violations = [v["description"] for v in violations]


def model_quality(
    out: Path, endpoints: dict[str, str], window: tuple[datetime, datetime]
) -> list[QualityReport]:
    """Post labels for both endpoints' traffic, baseline, and one quality run per hour kind."""
    scores = {hour: captured_scores(out / "capture", name) for hour, name in endpoints.items()}
    constraints = quality_baseline(out, scores["good"])
    reports = []
    for seed, (hour, name) in enumerate(endpoints.items()):
        post_labels(out, name, labelled(scores[hour], FLIPPED[hour], seed), window[0])
        report = QualityReport(hour, name)
        quality_run(out, report, constraints, window)
        reports.append(report)
    return reports


def quality_table(reports: list[QualityReport]) -> str:
    lines = ["hour     endpoint                 joined  accuracy  f1      status"]
    for r in reports:
        accuracy, f1 = r.metrics.get("accuracy", float("nan")), r.metrics.get("f1", float("nan"))
        lines.append(
            f"{r.hour:<8} {r.endpoint:<24} {r.joined:>6}  {accuracy:<8.3f}  {f1:<6.3f}  {r.status}"
        )
        lines.extend(f"    {text}" for text in r.violations[:6])
        if len(r.violations) > 6:
            lines.append(f"    ... and {len(r.violations) - 6} more")
    return "\n".join(lines)


def unexpected(reports: list[QualityReport]) -> list[str]:
    return [
        f"the {r.hour} hour's model quality is {r.status}, not {EXPECTED[r.hour]}"
        for r in reports
        if r.status != EXPECTED[r.hour]
    ]
