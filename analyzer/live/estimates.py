"""CBPE over the live window (DESIGN.md sections 9 and 13): for an endpoint with a binary
`model_quality` section and a score (`probability_attribute`), each step keeps four sums (scores
and counts of rows predicted positive and negative), the window adds them up and
`checking.quality.estimate.scalars_from_sums` turns them into expected accuracy, precision,
recall and F1: the first sign of a worse model, hours before a label lands."""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from analyzer.checking.quality.attributes import Attribute
from analyzer.checking.quality.estimate import scalars_from_sums
from analyzer.checking.quality.predictions import Predictor
from analyzer.results.problem import BINARY
from analyzer.scheduling.config import EndpointConfig


@dataclass(slots=True)
class ScoreSums:
    """One step's rows: scores and counts of those predicted positive, and negative."""

    positive_scores: float = 0.0
    positives: float = 0.0
    negative_scores: float = 0.0
    negatives: float = 0.0
    unscored: int = 0  # records whose output gave no score (counted, not estimated)

    def add(self, other: ScoreSums) -> None:
        self.positive_scores += other.positive_scores
        self.positives += other.positives
        self.negative_scores += other.negative_scores
        self.negatives += other.negatives
        self.unscored += other.unscored


def predictor_of(endpoint: EndpointConfig) -> Predictor | None:
    """The score reader of a binary model_quality section with a probability attribute."""
    quality = endpoint.model_quality
    if quality is None or quality.problem_type != BINARY or not quality.probability_attribute:
        return None
    inference = quality.inference_attribute
    return Predictor(
        BINARY,
        Attribute.parse(inference, "inference_attribute") if inference else None,
        Attribute.parse(quality.probability_attribute, "probability_attribute"),
        quality.probability_threshold,
    )


def score_lines(predictor: Predictor, lines: list[bytes], sums: ScoreSums) -> None:
    """Add the rows of capture lines (already placed in one step) to `sums`."""
    for line in lines:
        try:
            document = orjson.loads(line)
            prediction, score = predictor.predict(document["captureData"]["endpointOutput"])
        except (ValueError, LookupError, TypeError, AttributeError):  # counted, never fatal
            sums.unscored += 1
            continue
        if math.isnan(score):
            sums.unscored += 1
        elif prediction == 1.0:
            sums.positive_scores += score
            sums.positives += 1
        else:
            sums.negative_scores += score
            sums.negatives += 1


def estimated(sums: ScoreSums) -> dict[str, float]:
    """Expected accuracy, precision, recall and F1 of the window; empty without scored rows."""
    if sums.positives + sums.negatives == 0:
        return {}
    return scalars_from_sums(
        sums.positive_scores, sums.positives, sums.negative_scores, sums.negatives
    )
