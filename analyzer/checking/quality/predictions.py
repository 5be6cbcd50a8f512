"""A captured output -> the prediction of a problem type: a class code or a number, and a score.

Binary: the score (`--probability-attribute`) is the positive class's probability, a label when it
is strictly greater than `--probability-threshold`; a two-item vector gives its second item. A
predicted label (`--inference-attribute`) wins over the thresholded score when both are given.
Multiclass: the predicted label, else the argmax of a probability vector (the class is the index).
Regression: the predicted number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from analyzer.checking.quality.attributes import Attribute, MissingAttribute
from analyzer.errors import ConfigError
from analyzer.results.problem import (
    BINARY,
    MULTICLASS,
    REGRESSION,
    LabelValueError,
    binary_label,
    class_label,
    regression_value,
)

NO_SCORE = math.nan


class InvalidProbability(ValueError):
    """A score outside [0, 1] or NaN; counted."""


@dataclass(slots=True)
class Classes:
    """Class label text <-> code, shared by labels and predictions of one run."""

    codes: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def code(self, name: str) -> int:
        found = self.codes.get(name)
        if found is None:
            found = self.codes[name] = len(self.names)
            self.names.append(name)
        return found


@dataclass(slots=True)
class Predictor:
    """Turns values into the numbers the metrics use (see the module docstring)."""

    problem_type: str
    inference: Attribute | None = None
    probability: Attribute | None = None
    threshold: float = 0.5
    classes: Classes = field(default_factory=Classes)

    def __post_init__(self) -> None:
        if self.inference is None and self.probability is None:
            raise ConfigError(
                "give --inference-attribute (the predicted label) and/or "
                "--probability-attribute (a score) to read the prediction"
            )
        if self.problem_type == REGRESSION and (self.inference is None or self.probability):
            raise ConfigError(
                "Regression reads the predicted number with --inference-attribute; "
                "--probability-attribute is for classification"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(
                f"--probability-threshold must be between 0 and 1, got {self.threshold}"
            )

    def csv_score_column(self) -> int | None:
        """The column of a binary score read alone from CSV outputs (the join's fast path)."""
        if self.problem_type != BINARY or self.inference is not None or self.probability is None:
            return None
        return self.probability.column

    def label(self, value: Any) -> float:
        """A ground-truth label as the metrics' number (class code, 0/1, or the value)."""
        if self.problem_type == BINARY:
            if value == "1" or value == "0":  # the common case, without normalising
                return 1.0 if value == "1" else 0.0
            return float(binary_label(value))
        if self.problem_type == MULTICLASS:
            return float(self.classes.code(class_label(value)))
        return regression_value(value)

    def predict(self, output: Any) -> tuple[float, float]:
        """`(prediction, score)` of a capture record's endpointOutput; score NaN if none.

        Raises MissingAttribute, LabelValueError or InvalidProbability (each counted).
        """
        score = NO_SCORE
        if self.probability is not None:
            raw = self.probability.from_output(output)
            if self.problem_type == MULTICLASS:
                if self.inference is None:
                    return float(self.classes.code(str(_argmax(raw)))), NO_SCORE
            else:
                score = _probability(raw)
        if self.inference is not None:
            return self.label(self.inference.from_output(output)), score
        return (1.0 if score > self.threshold else 0.0), score

    def predict_value(self, label: Any, score: Any) -> tuple[float, float]:
        """`(prediction, score)` from dataset columns (quality-baseline); None when absent."""
        value = NO_SCORE
        if score is not None and self.problem_type != MULTICLASS:
            value = _probability(score)
        if label is not None:
            return self.label(label), value
        if self.problem_type == MULTICLASS:
            return float(self.classes.code(str(_argmax(score)))), NO_SCORE
        return (1.0 if value > self.threshold else 0.0), value


def _probability(raw: Any) -> float:
    if isinstance(raw, list):
        if len(raw) == 2:
            raw = raw[1]  # [P(0), P(1)]: the positive class's probability
        elif len(raw) == 1:
            raw = raw[0]
        else:
            raise LabelValueError(f"a binary score vector has 2 items, got {len(raw)}")
    try:
        score = float(raw)
    except (TypeError, ValueError):
        raise LabelValueError(f"score {str(raw)[:40]!r} is not a number") from None
    if not 0.0 <= score <= 1.0:  # also false for NaN
        raise InvalidProbability(f"score {score!r} is outside [0, 1]")
    return score


def _argmax(raw: Any) -> int:
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list) or not raw:
        raise LabelValueError(
            "a multiclass --probability-attribute must point at a probability vector; "
            "a single score suggests --problem-type BinaryClassification"
        )
    try:
        scores = [float(v) for v in raw]
    except (TypeError, ValueError):
        raise LabelValueError("the probability vector holds a non-number") from None
    if any(not 0.0 <= s <= 1.0 for s in scores):
        raise InvalidProbability("a probability in the vector is outside [0, 1] or NaN")
    return max(range(len(scores)), key=scores.__getitem__)


__all__ = ["Classes", "InvalidProbability", "MissingAttribute", "Predictor"]
