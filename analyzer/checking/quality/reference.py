"""What CBPE learns from the labelled baseline: calibration, its correction, sampling errors.

`quality-baseline` (binary, with scores) writes it into its statistics.json under `cbpe_reference`,
beside SageMaker's objects; `quality-run --baseline-statistics` reads it back (the file through
analyzer.reporting.quality_files) to re-calibrate the window's scores and to give each estimate
NannyML's sampling error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzer.checking.quality import calibration, sampling_error
from analyzer.checking.quality.calibration import Floats, IsotonicMap
from analyzer.errors import BaselineError

REFERENCE_KEY = "cbpe_reference"
# Past this expected calibration error (after any re-calibration) an estimate can be off by
# about as much: the run says so.
TRUSTED_CALIBRATION_ERROR = 0.05


@dataclass(slots=True)
class Reference:
    calibration: dict[str, Any]
    mapping: IsotonicMap | None
    components: sampling_error.Components = field(default_factory=dict)

    @property
    def remaining_error(self) -> float:
        """The calibration error left after the correction the reference applies."""
        key = (
            "expected_calibration_error_recalibrated"
            if self.mapping
            else "expected_calibration_error"
        )
        return float(self.calibration.get(key, math.nan))


def build(truth: Floats, predicted: Floats, scores: Floats) -> dict[str, Any] | None:
    """The reference object of labelled rows (rows without a score left out); None if none."""
    keep = ~np.isnan(scores)
    truth, predicted, scores = truth[keep], predicted[keep], scores[keep]
    if scores.size == 0:
        return None
    positive = predicted == 1
    tp = float(np.sum(positive & (truth == 1)))
    fp = float(np.sum(positive)) - tp
    fn = float(np.sum(~positive & (truth == 1)))
    tn = float(scores.size) - tp - fp - fn
    return {
        "item_count": int(scores.size),
        "calibration": calibration.measure(truth, scores),
        "sampling_error_components": sampling_error.to_json(
            sampling_error.components(tp, fp, fn, tn)
        ),
    }


def from_json(raw: Mapping[str, Any] | None, where: str) -> Reference | None:
    """The reference a baseline statistics.json holds under REFERENCE_KEY, or None (an older
    baseline, or not binary); `where` names the file in errors."""
    if raw is None:
        return None
    try:
        found = dict(raw.get("calibration") or {})
        mapping = IsotonicMap.from_json(found["isotonic"]) if found.get("recalibrate") else None
        parts = sampling_error.from_json(raw.get("sampling_error_components") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"{where}: {REFERENCE_KEY} is not readable: {exc}") from exc
    return Reference(found, mapping, parts)


def baseline_warnings(reference: Mapping[str, Any]) -> list[str]:
    """What quality-baseline says about its scores' calibration."""
    found = reference["calibration"]
    before = found.get("expected_calibration_error", math.nan)
    if found.get("recalibrate"):
        after = found["expected_calibration_error_recalibrated"]
        return [
            f"scores are not calibrated probabilities (expected calibration error {before:.3f}, "
            f"{after:.3f} after isotonic re-calibration): quality-run re-calibrates them for "
            "its estimates when given --baseline-statistics"
        ]
    if before > TRUSTED_CALIBRATION_ERROR:
        return [
            f"scores are not calibrated probabilities (expected calibration error {before:.3f}) "
            "and re-calibration does not help: estimates before labels may be off by as much"
        ]
    return []
