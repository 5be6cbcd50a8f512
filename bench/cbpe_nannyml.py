"""CBPE on a deliberately over-confident model: our estimates beside NannyML's, chunk by chunk.

Method (printed with the results):
  * Model: the true chance of class 1 is p ~ U(0.05, 0.95); the model reports the score
    sigmoid(3 * logit(p)), pushed towards 0 and 1 (over-confident); it predicts 1 above 0.5.
    Labels are drawn from p. A labelled reference of --reference rows (the quality baseline),
    then --chunks analysis chunks of --chunk-rows rows from the same distribution (seeded).
  * Ours: analyzer.checking.quality.reference.build on the reference (what quality-baseline
    stores), then estimate() per chunk with that reference (re-calibrated) and without (raw
    scores, and the 80 %-subsample standard deviation the estimate reported before).
  * NannyML: nannyml.CBPE (problem_type classification_binary, chunk_size = --chunk-rows),
    fitted on the same reference and estimating the same chunks, run by --nannyml-python (a
    separate interpreter: NannyML's dependencies do not fit the project's environment).
  * Reported per metric: the median |estimate - realised| over chunks; the median reported
    uncertainty; and the standard deviation of (estimate - realised) across chunks, which the
    reported uncertainty should match.

Usage:
  python -m venv /tmp/nannyml && /tmp/nannyml/bin/pip install nannyml statsmodels
  python bench/cbpe_nannyml.py --nannyml-python /tmp/nannyml/bin/python [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.checking.quality import metrics
from analyzer.checking.quality.calibration import IsotonicMap
from analyzer.checking.quality.estimate import ESTIMATED, estimate, expected_scalars
from analyzer.checking.quality.reference import Reference, build
from analyzer.checking.quality.sampling_error import from_json

Floats = npt.NDArray[np.float64]
NANNYML = """
import json, sys
import numpy as np, pandas as pd, nannyml as nml
data = np.load(sys.argv[1])
frame = lambda t, s: pd.DataFrame({"truth": t, "score": s, "pred": (s > 0.5).astype(int)})
reference = frame(data["ref_truth"], data["ref_score"])
analysis = frame(data["truth"], data["score"]).drop(columns=["truth"])
metrics = ["accuracy", "precision", "recall", "f1"]
cbpe = nml.CBPE(y_pred_proba="score", y_pred="pred", y_true="truth", metrics=metrics,
                chunk_size=int(sys.argv[2]), problem_type="classification_binary")
cbpe.fit(reference)
table = cbpe.estimate(analysis).filter(period="analysis").to_df()
out = {m: {"value": table[(m, "value")].tolist(),
           "sampling_error": table[(m, "sampling_error")].tolist()} for m in metrics}
print(json.dumps(out))
print(json.dumps({"version": nml.__version__}))
"""


def over_confident(rows: int, generator: np.random.Generator) -> tuple[Floats, Floats]:
    probability = generator.uniform(0.05, 0.95, rows)
    truth = (generator.random(rows) < probability).astype(np.float64)
    logit = np.log(probability / (1 - probability))
    return truth, 1 / (1 + np.exp(-3 * logit))


def reference_of(truth: Floats, score: Floats) -> tuple[Reference, dict[str, Any]]:
    raw = build(truth, (score > 0.5).astype(np.float64), score)
    assert raw is not None
    found = raw["calibration"]
    mapping = IsotonicMap.from_json(found["isotonic"]) if found["recalibrate"] else None
    return Reference(found, mapping, from_json(raw["sampling_error_components"])), found


def ours(truth: Floats, score: Floats, reference: Reference, chunk: int) -> dict[str, Any]:
    rows: dict[str, Any] = {"realised": [], "calibrated": [], "raw": [], "old_std": []}
    for start in range(0, truth.size, chunk):
        t, s = truth[start : start + chunk], score[start : start + chunk]
        predicted = (s > 0.5).astype(np.float64)
        rows["realised"].append(metrics.binary_scalars(t, predicted, s))
        rows["calibrated"].append(estimate(s, predicted, reference))
        rows["raw"].append(estimate(s, predicted, None))

        def compute(index: npt.NDArray[np.int64], s: Floats = s, p: Floats = predicted) -> Any:
            return expected_scalars(s[index], p[index])

        rows["old_std"].append(metrics.standard_deviations(s.size, compute, ESTIMATED))
    return rows


def nannyml_side(python: str, data: dict[str, Floats], chunk: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        np.savez(path, allow_pickle=False, **data)
        done = subprocess.run(
            [python, "-c", NANNYML, str(path), str(chunk)],
            check=True,
            capture_output=True,
            text=True,
        )
    lines = done.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-2])
    print(f"NannyML {json.loads(lines[-1])['version']}")
    return result


def summary(name: str, ours_rows: dict[str, Any], theirs: dict[str, Any] | None) -> dict[str, Any]:
    realised = np.array([r[name] for r in ours_rows["realised"]])
    calibrated = np.array([e[name]["value"] for e in ours_rows["calibrated"]])
    row = {
        "raw_error": float(
            np.median(np.abs(np.array([e[name]["value"] for e in ours_rows["raw"]]) - realised))
        ),
        "ours_error": float(np.median(np.abs(calibrated - realised))),
        "ours_sampling_error": float(
            np.median([e[name]["sampling_error"] for e in ours_rows["calibrated"]])
        ),
        "old_std": float(np.median([d[name] for d in ours_rows["old_std"]])),
        "spread_ours": float(np.std(calibrated - realised)),
    }
    if theirs is not None:
        value = np.array(theirs[name]["value"][: realised.size])
        row["nannyml_error"] = float(np.median(np.abs(value - realised)))
        row["nannyml_sampling_error"] = float(np.median(theirs[name]["sampling_error"]))
        row["spread_nannyml"] = float(np.std(value - realised))
        row["ours_vs_nannyml"] = float(np.max(np.abs(calibrated - value)))
        their_errors = np.array(theirs[name]["sampling_error"][: realised.size])
        ours_errors = np.array([e[name]["sampling_error"] for e in ours_rows["calibrated"]])
        row["sampling_error_vs_nannyml"] = float(np.max(np.abs(ours_errors - their_errors)))
    return row


def describe(name: str, row: dict[str, float]) -> str:
    errors = f"raw {row['raw_error']:.3f}, re-calibrated {row['ours_error']:.3f}"
    spreads = f"ours {row['ours_sampling_error']:.4f}"
    if "nannyml_error" in row:
        errors += f", NannyML {row['nannyml_error']:.3f}"
        errors += f" (max |ours - NannyML| {row['ours_vs_nannyml']:.1e})"
        spreads += f", NannyML {row['nannyml_sampling_error']:.4f}"
        spreads += f" (max |ours - NannyML| {row['sampling_error_vs_nannyml']:.1e})"
    spreads += f", old 80 %-subsample std {row['old_std']:.4f}"
    return (
        f"{name:9} median |estimate - realised|: {errors}; uncertainty: {spreads}; "
        f"spread of estimate - realised {row['spread_ours']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--chunk-rows", type=int, default=2_000)
    parser.add_argument("--nannyml-python", default=None, help="an interpreter with nannyml")
    parser.add_argument("--quick", action="store_true", help="5,000 reference rows, 10 chunks")
    args = parser.parse_args()
    if args.quick:
        args.reference, args.chunks = 5_000, 10
    print(__doc__.split("Usage:")[0])
    generator = np.random.default_rng(20261207)
    ref_truth, ref_score = over_confident(args.reference, generator)
    truth, score = over_confident(args.chunks * args.chunk_rows, generator)
    reference, calibration = reference_of(ref_truth, ref_score)
    ours_rows = ours(truth, score, reference, args.chunk_rows)
    theirs = None
    if args.nannyml_python:
        data = {"ref_truth": ref_truth, "ref_score": ref_score, "truth": truth, "score": score}
        theirs = nannyml_side(args.nannyml_python, data, args.chunk_rows)
    print(
        f"reference {args.reference:,} rows: expected calibration error "
        f"{calibration['expected_calibration_error']:.3f}, "
        f"{calibration['expected_calibration_error_recalibrated']:.3f} after isotonic; "
        f"{args.chunks} chunks of {args.chunk_rows:,} rows"
    )
    results = {name: summary(name, ours_rows, theirs) for name in ESTIMATED}
    for name, row in results.items():
        print(describe(name, row))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "cbpe_nannyml.json").write_text(
        json.dumps({"calibration": calibration, "metrics": results}, default=str)
    )


if __name__ == "__main__":
    main()
