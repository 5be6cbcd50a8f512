"""`make demo`, fairness: SageMaker Clarify's two other monitors on the example model.

The breast-cancer model has no demographic column, so the demo's facet is a threshold on one of
its features (mean_texture above the training median): the "group" whose treatment is watched.
Three hours of traffic, each through its own sidecar (so each is its own endpoint):
  * clean: the baseline's own rows, so every bias metric and the feature ranking match it;
  * biased: the facet group sends only benign cases and the rest only malignant ones, so the
    model's positive predictions now go to one group (bias_drift_check violations);
  * shifted: the baseline's rows with the five features that drove the model pinned to their
    means, so other features now drive it (feature_attribution_drift_check, nDCG below 0.9).
Labels are the data set's truth (malignant is positive), posted by eventId.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from demo_analysis import EXIT_STATUS, TIME_FORMAT, AnalyzerFailed, analyzer
from demo_traffic import csv_line, send_csv_rows
from model_server import load_data
from numpy.typing import NDArray
from processes import Children, free_port

from sidecar.common.record import parse_record

FACET = "mean_texture"
# Rows per hour and SHAP coalitions per row (--quick: fewer, the same outcomes).
SIZES = {False: (150, 100), True: (80, 40)}
HOURS = ("clean", "biased", "shifted")
EXPECTED = {
    ("bias", "clean"): "Completed",
    ("bias", "biased"): "CompletedWithViolations",
    ("attribution", "clean"): "Completed",
    ("attribution", "shifted"): "CompletedWithViolations",
}
FOLDERS = ("fairness",)


@dataclass
class FairnessReport:
    monitor: str  # bias | attribution
    hour: str
    endpoint: str
    status: str = "not run"
    violations: int = 0
    detail: str = ""
    page: Path | None = None


def _score(url: str, rows: NDArray[np.float64]) -> NDArray[np.float64]:
    body = "".join(csv_line(r) + "\n" for r in rows).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return np.asarray([float(v) for v in response.read().decode().split()], dtype=np.float64)


def _config(
    features: tuple[str, ...], threshold: float, mean: list[float], samples: int
) -> dict[str, Any]:
    return {
        "version": "1.0",
        "dataset_type": "text/csv",
        "headers": ["label", *features, "predicted"],
        "label": "label",
        "predicted_label": "predicted",
        "label_values_or_threshold": [1],
        "facet": [{"name_or_index": FACET, "value_or_threshold": [threshold]}],
        "probability_threshold": 0.5,
        "methods": {
            "pre_training_bias": {"methods": ["CI", "DPL", "KL", "JS", "LP", "TVD", "KS"]},
            "post_training_bias": {
                "methods": ["DPPL", "DI", "DCA", "DCR", "RD", "SD", "DAR", "DRR", "AD", "TE"]
            },
            "shap": {"baseline": [mean], "num_samples": samples, "seed": 1},
        },
        "predictor": {"content_type": "text/csv", "accept_type": "text/csv", "probability": 0},
    }


def _traffic(
    data: NDArray[np.float64],
    malignant: NDArray[np.bool_],
    column: int,
    threshold: float,
    rows: int,
) -> dict[str, NDArray[np.float64]]:
    rng = np.random.default_rng(11)
    clean = np.round(data[rng.choice(len(data), rows, replace=False)], 6)
    in_group = data[:, column] > threshold
    benign_group = data[in_group & ~malignant]
    malignant_rest = data[~in_group & malignant]
    half = rows // 2
    biased = np.vstack(
        [
            benign_group[rng.integers(0, len(benign_group), half)],
            malignant_rest[rng.integers(0, len(malignant_rest), rows - half)],
        ]
    )
    return {"clean": clean, "biased": np.round(biased, 6), "shifted": clean.copy()}


def _labels(out: Path, endpoint: str, truth: dict[str, int], written_at: datetime) -> None:
    """Each capture's label (its input row's truth), posted with `ground-truth` by eventId."""
    pairs = []
    for path in sorted((out / "capture" / endpoint).rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            record = parse_record(line)
            row = record.endpoint_input.data.strip() if record.endpoint_input else ""
            if row in truth:
                pairs.append((record.inference_id or record.event_id, truth[row]))
    source = out / "fairness" / f"labels-{endpoint}.csv"
    source.write_text("inference_id,label\n" + "".join(f"{k},{v}\n" for k, v in pairs))
    args = ["ground-truth", "--destination", str(out / "fairness" / "ground-truth")]
    args += ["--input", str(source), "--written-at", written_at.strftime(TIME_FORMAT)]
    if analyzer(args, out / "logs" / f"ground-truth-{endpoint}.log") != 0:
        raise AnalyzerFailed(f"posting the labels of {endpoint} failed; see {out / 'logs'}")


@dataclass
class Setup:
    out: Path
    model_url: str
    config: Path
    window: tuple[datetime, datetime]
    rows: int


def _baselines(setup: Setup, features: tuple[str, ...], rows: NDArray[np.float64],
               labels: NDArray[np.int64]) -> list[str]:  # fmt: skip
    """bias-baseline and attribution-baseline of the clean rows; the five top features."""
    predicted = (_score(setup.model_url, rows) > 0.5).astype(int)
    dataset = setup.out / "fairness" / "baseline.csv"
    lines = [",".join(["label", *features, "predicted"])]
    lines += [f"{y},{csv_line(r)},{p}" for y, r, p in zip(labels, rows, predicted, strict=True)]
    dataset.write_text("\n".join(lines) + "\n")
    common = ["--dataset", str(dataset), "--header", "--analysis-config", str(setup.config)]
    base = setup.out / "fairness" / "baseline"
    if analyzer(["bias-baseline", *common, "--output", str(base / "bias")],
                setup.out / "logs" / "bias-baseline.log") != 0:  # fmt: skip
        raise AnalyzerFailed(f"bias-baseline failed; see {setup.out / 'logs'}")
    args = ["attribution-baseline", *common, "--model-url", setup.model_url]
    args += ["--max-records", str(setup.rows), "--output", str(base / "attribution")]
    if analyzer(args, setup.out / "logs" / "attribution-baseline.log", timeout=600) != 0:
        raise AnalyzerFailed(f"attribution-baseline failed; see {setup.out / 'logs'}")
    document = json.loads((base / "attribution" / "analysis.json").read_text())
    values = document["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    return sorted(values, key=lambda name: -values[name])[:5]


def _monitor(setup: Setup, report: FairnessReport) -> None:
    base = setup.out / "fairness" / "baseline"
    output = setup.out / "fairness" / report.monitor / report.endpoint
    args = [f"{report.monitor}-run", "--captures", str(setup.out / "capture")]
    args += ["--endpoint-name", report.endpoint, "--analysis-config", str(setup.config)]
    args += ["--baseline-constraints", str(base / report.monitor / "analysis.json")]
    args += ["--start", setup.window[0].strftime(TIME_FORMAT)]
    args += ["--end", setup.window[1].strftime(TIME_FORMAT), "--output", str(output)]
    if report.monitor == "bias":
        args += ["--ground-truth", str(setup.out / "fairness" / "ground-truth")]
    else:
        args += ["--model-url", setup.model_url, "--max-records", str(setup.rows)]
    code = analyzer(args, setup.out / "logs" / f"{report.monitor}-run-{report.endpoint}.log", 600)
    report.status = EXIT_STATUS.get(code, f"exit {code}")
    record = json.loads((output / "execution.json").read_text())
    report.violations = int(record["violations"])
    if report.monitor == "attribution" and "ndcg" in record:
        report.detail = f"nDCG {record['ndcg']['label0']:.3f}"
    page = output / "report.html"
    report.page = page if page.exists() else None


def run_fairness(
    out: Path,
    children: Children,
    start_sidecar: Callable[[str, str], Any],
    drain: Callable[[Any, int], int],
    window: Callable[[], tuple[datetime, datetime]],
    say: Callable[[str], None],
    quick: bool = False,
) -> list[FairnessReport]:
    """Model server, three sidecars, traffic, baselines, then bias and attribution runs."""
    (out / "fairness").mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = children.start(
        "fairness model server",
        [sys.executable, "examples/model_server.py", "--port", str(port)],
        log_path=out / "logs" / "fairness_model_server.log",
    )
    upstream = f"http://127.0.0.1:{port}"
    server.wait_http(f"{upstream}/ping")
    features, data, target = load_data()
    column = features.index(FACET)
    threshold = round(float(np.median(data[:, column])), 2)
    malignant = target == 0
    say(f"fairness: facet {FACET} > {threshold} (the training median) is the watched group")
    rows, samples = SIZES[quick]
    traffic = _traffic(data, malignant, column, threshold, rows)
    truth_of = {csv_line(r): int(m) for r, m in zip(np.round(data, 6), malignant, strict=True)}
    config = out / "fairness" / "analysis_config.json"
    mean = np.round(data.mean(axis=0), 4).tolist()
    config.write_text(json.dumps(_config(features, threshold, mean, samples), indent=2))
    setup = Setup(out, f"{upstream}/invocations", config, window(), rows)
    clean_labels = np.asarray([truth_of[csv_line(r)] for r in traffic["clean"]])
    top = _baselines(setup, features, traffic["clean"], clean_labels)
    for name in top:  # the shifted hour: what drove the model is pinned to the SHAP baseline
        traffic["shifted"][:, features.index(name)] = mean[features.index(name)]
    say(f"fairness: the shifted hour pins {', '.join(top)} (the top attributions) to their means")
    for hour in HOURS:
        sidecar = start_sidecar(f"fairness-{hour}", upstream)
        sidecar.child.wait_http(f"http://127.0.0.1:{sidecar.admin_port}/readyz")
        result = send_csv_rows(f"http://127.0.0.1:{sidecar.port}/invocations", traffic[hour])
        if drain(sidecar, result.sent) != result.sent:
            raise AnalyzerFailed(f"fairness-{hour}: captures were lost")
        if hour != "shifted":  # the shifted hour is only explained, not measured for bias
            _labels(out, f"fairness-{hour}", truth_of, setup.window[0])
    setup.window = window()
    reports = [FairnessReport(monitor, hour, f"fairness-{hour}") for monitor, hour in EXPECTED]
    for report in reports:
        _monitor(setup, report)
    return reports


def fairness_table(reports: list[FairnessReport]) -> str:
    lines = ["monitor      hour     endpoint            violations  status"]
    for r in reports:
        lines.append(
            f"{r.monitor:<12} {r.hour:<8} {r.endpoint:<19} {r.violations:>10}  {r.status}"
            + (f"  ({r.detail})" if r.detail else "")
        )
    lines.append("pages:")
    lines.extend(f"  {r.page}" for r in reports if r.page)
    return "\n".join(lines)


def unexpected(reports: list[FairnessReport]) -> list[str]:
    return [
        f"the {r.hour} hour's {r.monitor} run is {r.status}, not {EXPECTED[(r.monitor, r.hour)]}"
        for r in reports
        if r.status != EXPECTED[(r.monitor, r.hour)]
    ]
