"""What a model-quality run read, joined and rejected: counters written to execution.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from analyzer.results.counts import Counts

_QUALITY_WARNINGS = {
    "unreadable_capture_files": "capture files could not be read",
    "malformed_captures": "capture lines are not capture records (skipped)",
    "unreadable_label_files": "ground-truth files could not be read",
    "unreadable_labels": "ground-truth lines do not parse as SageMaker ground-truth records "
    "(skipped)",
    "invalid_labels": "labels do not fit the problem type (skipped; check --problem-type)",
    "duplicate_labels_same": "duplicate labels repeat an earlier label (ignored)",
    "duplicate_labels_conflicting": "duplicate labels contradict an earlier one "
    "(the one written last wins)",
    "unlabelled_captures": "captures have no label yet (not in the metrics)",
    "orphan_labels": "labels match no capture of the window (ignored)",
    "duplicate_captures": "captures repeat an inference id already joined (skipped)",
    "missing_predictions": "captured outputs lack the prediction attribute or do not parse "
    "(check --inference-attribute / --probability-attribute)",
    "invalid_predictions": "predictions do not fit the problem type (skipped; "
    "check --problem-type)",
    "invalid_probabilities": "scores are outside [0, 1] or NaN (skipped)",
    "unseen_classes": "joined labels are of a class the baseline never saw (kept)",
}


@dataclass(slots=True)
class QualityCounts(Counts):
    """Every bad or unmatched input is counted here, never fatal (see `warnings`)."""

    WARNINGS: ClassVar[Mapping[str, str]] = _QUALITY_WARNINGS

    capture_files: int = 0
    unreadable_capture_files: int = 0
    captures: int = 0  # capture records read
    malformed_captures: int = 0  # lines that are not capture records
    label_files: int = 0
    unreadable_label_files: int = 0
    labels: int = 0  # distinct inference ids with a readable label
    label_records: int = 0  # ground-truth lines read
    unreadable_labels: int = 0  # lines that are not ground-truth records
    invalid_labels: int = 0  # labels that do not fit the problem type
    duplicate_labels_same: int = 0  # a second label equal to the first
    duplicate_labels_conflicting: int = 0  # a second, different label (the last written wins)
    joined: int = 0  # captures with a label and a prediction: the metrics' rows
    unlabelled_captures: int = 0  # captures whose id has no label (yet)
    orphan_labels: int = 0  # labels whose id no capture of the window carries
    duplicate_captures: int = 0  # a second capture with an id already joined (skipped)
    missing_predictions: int = 0  # outputs without the prediction attribute, or unparsable
    invalid_predictions: int = 0  # predictions that do not fit the problem type
    invalid_probabilities: int = 0  # scores outside [0, 1] or NaN
    unseen_classes: int = 0  # joined labels of a class the baseline never saw

    @property
    def label_coverage(self) -> float | None:
        """Joined captures / captures with a prediction (None without any)."""
        predicted = self.captures - self.malformed_captures - self.missing_predictions
        predicted -= self.invalid_predictions + self.invalid_probabilities
        return self.joined / predicted if predicted > 0 else None
