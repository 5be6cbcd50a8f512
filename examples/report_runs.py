"""Real monitoring runs for the report pages: a baseline from a training CSV, capture files in the
sidecar's layout and `run_monitoring` over them, hour by hour in the scheduler's report layout.

Used by `examples/demo_reports.py` (a model's history), bench/report_size.py and the report tests.
Columns: `prediction` (the model output, first, as SageMaker lines CSV captures up), numeric
inputs `f001`..., and optionally a categorical input `segment`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analyzer.commands.baseline import create_baseline
from analyzer.job import MonitoringJob
from analyzer.pipeline.monitoring import run_monitoring
from analyzer.reporting.execution import ExecutionResult
from sidecar.common.layout import file_name, partition_key
from sidecar.common.record import Payload, build_record

VARIANT = "AllTraffic"
SEGMENTS = ("retail", "business", "student", "senior")
HOUR = timedelta(hours=1)
FIRST_HOUR = datetime(2026, 11, 25, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Traffic:
    """How one hour's rows differ from the training data."""

    rows: int = 400
    shifted: Sequence[str] = ()  # features whose mean moves by `shift` standard deviations
    shift: float = 1.5
    missing: Sequence[str] = ()  # features left empty in `missing_share` of the rows
    missing_share: float = 0.3
    segment_shares: Sequence[float] = (0.4, 0.3, 0.2, 0.1)
    seed: int = 1


@dataclass
class Model:
    """A baseline made by the real `baseline` code from a generated training CSV."""

    folder: Path
    features: int
    segment: bool = True
    statistics: Path = field(init=False)
    constraints: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        dataset = self.folder / "train.csv"
        write_csv(dataset, self.columns, self.rows(Traffic(rows=2000, seed=0)))
        result = create_baseline(str(dataset), str(self.folder / "baseline"), header=True)
        self.statistics = Path(result.statistics_url)
        self.constraints = Path(result.constraints_url)

    @property
    def inputs(self) -> list[str]:
        names = [f"f{i:03d}" for i in range(1, self.features)]
        return [*names, "segment"] if self.segment else names

    @property
    def columns(self) -> list[str]:
        return ["prediction", *self.inputs]

    def rows(self, traffic: Traffic) -> list[list[str]]:
        """Rows of `columns` as CSV fields: numbers around 10 * (i % 7), spread 1 + i % 3."""
        rng = np.random.default_rng(traffic.seed)
        numeric = [c for c in self.inputs if c != "segment"]
        table = np.empty((traffic.rows, len(numeric)))
        for j, name in enumerate(numeric):
            spread = 1.0 + j % 3
            mean = 10.0 * (j % 7) + (traffic.shift * spread if name in traffic.shifted else 0)
            table[:, j] = rng.normal(mean, spread, traffic.rows)
        prediction = (table[:, 0] > table[:, 0].mean()).astype(int) if numeric else []
        out = []
        for r in range(traffic.rows):
            fields = [f"{v:.4f}" for v in table[r]]
            for j, name in enumerate(numeric):
                if name in traffic.missing and rng.random() < traffic.missing_share:
                    fields[j] = ""
            if self.segment:
                fields.append(str(rng.choice(SEGMENTS, p=list(traffic.segment_shares))))
            out.append([str(prediction[r]) if len(prediction) else "0", *fields])
        return out


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def write_captures(
    root: Path, endpoint: str, hour: datetime, rows: Sequence[Sequence[str]]
) -> Path:
    """One capture file in the hour's folder: each row's inputs as a CSV request, its output
    as the CSV response."""
    folder = root / partition_key(endpoint, VARIANT, hour)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(hour + timedelta(minutes=5), uuid.uuid4())
    with path.open("wb") as out:
        for i, row in enumerate(rows):
            out.write(
                build_record(
                    inference_time=hour + timedelta(seconds=i % 3600),
                    request=Payload("text/csv", ",".join(row[1:]).encode()),
                    response=Payload("text/csv", row[0].encode()),
                )
            )
    return path


def run_hour(
    model: Model, captures: Path, endpoint: str, hour: datetime, output: str
) -> ExecutionResult:
    """`infertap-analyzer run` for one hour, in process; writes the JSON files and report.html."""
    return run_monitoring(
        MonitoringJob(
            captures=str(captures),
            endpoint_name=endpoint,
            variant_name=VARIANT,
            baseline_statistics=str(model.statistics),
            baseline_constraints=str(model.constraints),
            start=hour,
            end=hour + HOUR,
            output=output,
        )
    )


def report_folder(reports: Path, endpoint: str, hour: datetime) -> Path:
    """The scheduler's layout: {output}/{endpoint}/{variant}/YYYY/MM/DD/HH."""
    return reports / partition_key(endpoint, VARIANT, hour)


def one_run(folder: Path, features: int, traffic: Traffic, endpoint: str = "churn") -> Path:
    """A baseline and one monitored hour; returns the run's report folder."""
    model = Model(folder / "model", features)
    write_captures(folder / "capture", endpoint, FIRST_HOUR, model.rows(traffic))
    output = report_folder(folder / "reports", endpoint, FIRST_HOUR)
    run_hour(model, folder / "capture", endpoint, FIRST_HOUR, str(output))
    return output


def history(
    folder: Path,
    features: int = 12,
    hours: int = 12,
    drift_from: int = 8,
    empty_hours: Sequence[int] = (5,),
    endpoint: str = "churn",
) -> Path:
    """`hours` hourly runs: clean, one hour without traffic (Failed), then drift from
    `drift_from` on (f002 shifted, growing; f003 partly missing; segment shares moved).
    Returns the reports root (for `infertap-analyzer report --reports`)."""
    model = Model(folder / "model", features)
    captures, reports = folder / "capture", folder / "reports"
    for index in range(hours):
        hour = FIRST_HOUR + index * HOUR
        if index not in empty_hours:
            write_captures(captures, endpoint, hour, model.rows(_traffic(index, drift_from)))
        run_hour(model, captures, endpoint, hour, str(report_folder(reports, endpoint, hour)))
    return reports


def _traffic(index: int, drift_from: int) -> Traffic:
    if index < drift_from:
        return Traffic(seed=100 + index)
    return Traffic(
        seed=100 + index,
        shifted=("f002",),
        shift=0.5 * (index - drift_from + 1),
        missing=("f003",),
        segment_shares=(0.1, 0.2, 0.3, 0.4),
    )
