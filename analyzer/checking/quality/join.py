"""Join captured predictions to labels: a capture's inferenceId, else its eventId, is the key.

Captures are streamed file by file (a few read ahead); each record is looked up in the label
table, so memory is the label table plus 24 bytes per prediction (joined rows and, for the
estimates, every scored capture) and never the capture files. A capture that has no label, a
second capture with an id already joined, and outputs without a usable prediction are counted.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from analyzer.checking.quality.attributes import MissingAttribute
from analyzer.checking.quality.labels import LINE_BITS, LabelTable, hour_seconds
from analyzer.checking.quality.predictions import InvalidProbability, Predictor
from analyzer.decoding.records import split_records
from analyzer.reading.captures import iter_files
from analyzer.results.problem import LabelValueError
from analyzer.results.quality_counts import QualityCounts

# Given to the join, it sees the endpointInput of every capture with a prediction, in the order of
# Joined.all_predictions (the bias monitor reads its facets from it).
InputHook = Callable[[Any], None]


@dataclass(slots=True)
class Joined:
    """The metrics' rows (label, prediction, score) and every capture's prediction and score."""

    labels: array[float] = field(default_factory=lambda: array("d"))
    predictions: array[float] = field(default_factory=lambda: array("d"))
    scores: array[float] = field(default_factory=lambda: array("d"))
    all_predictions: array[float] = field(default_factory=lambda: array("d"))
    all_scores: array[float] = field(default_factory=lambda: array("d"))
    # Each joined row's place in all_predictions (the bias monitor lines labels up with inputs).
    positions: array[int] = field(default_factory=lambda: array("q"))
    delay_sum: float = 0.0  # seconds from capture hour to label hour, summed over joined rows
    delay_max: float = 0.0

    def __len__(self) -> int:
        return len(self.labels)


def join_captures(
    urls: Sequence[str],
    table: LabelTable,
    predictor: Predictor,
    counts: QualityCounts,
    concurrency: int = 16,
    take_input: InputHook | None = None,
) -> Joined:
    """Stream the capture files through the label table (see the module docstring)."""
    joined = Joined()
    counts.capture_files += len(urls)
    for item in iter_files(list(urls), concurrency):
        if item.data is None:
            counts.unreadable_capture_files += 1
            continue
        lines, truncated = split_records(item.data)
        counts.malformed_captures += int(truncated)
        join_lines(lines, table, predictor, counts, joined, hour_seconds(item.url), take_input)
    counts.orphan_labels = table.unmatched
    return joined


def join_lines(
    lines: Sequence[bytes],
    table: LabelTable,
    predictor: Predictor,
    counts: QualityCounts,
    joined: Joined,
    captured_hour: float = math.nan,
    take_input: InputHook | None = None,
) -> None:
    """Join the capture lines of one file into `joined` (the hot loop: keep it flat)."""
    index, matched, values = table.index, table.matched, table.values
    predict, fast_column = predictor.predict, predictor.csv_score_column()
    all_predictions, all_scores = joined.all_predictions.append, joined.all_scores.append
    add_label, add_prediction, add_score = (
        a.append for a in (joined.labels, joined.predictions, joined.scores)
    )
    rows: array[int] = array("q")
    add_position, all_count = joined.positions.append, joined.all_predictions.__len__
    unlabelled = repeated = 0
    for line in lines:
        try:
            record = orjson.loads(line)
            metadata = record["eventMetadata"]
            output: Any = record["captureData"].get("endpointOutput")
            key = metadata.get("inferenceId") or metadata["eventId"]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            counts.malformed_captures += 1
            continue
        try:
            if fast_column is not None and output and output.get("encoding") == "CSV":
                score = _csv_score(output["data"], fast_column)
                prediction = 1.0 if score > predictor.threshold else 0.0
            else:
                prediction, score = predict(output)
        except (MissingAttribute, InvalidProbability, LabelValueError) as exc:
            _count_unpredicted(counts, exc)
            continue
        all_predictions(prediction)
        all_scores(score)
        if take_input is not None:
            take_input(record["captureData"].get("endpointInput"))
        row = index.get(key) if type(key) is str else None
        if row is None:
            unlabelled += 1
        elif matched[row]:
            repeated += 1
        else:
            matched[row] = 1
            add_label(values[row])
            add_prediction(prediction)
            add_score(score)
            add_position(all_count() - 1)
            rows.append(row)
    counts.captures += len(lines)
    counts.unlabelled_captures += unlabelled
    counts.duplicate_captures += repeated
    counts.joined = len(joined.labels)
    _add_delays(joined, table, rows, captured_hour)


def _count_unpredicted(counts: QualityCounts, exc: Exception) -> None:
    if isinstance(exc, MissingAttribute):
        counts.missing_predictions += 1
    elif isinstance(exc, InvalidProbability):
        counts.invalid_probabilities += 1
    else:
        counts.invalid_predictions += 1


def _add_delays(joined: Joined, table: LabelTable, rows: array[int], captured_hour: float) -> None:
    """Add the label delays (label hour - capture hour) of one file's joined rows."""
    if not rows or math.isnan(captured_hour):
        return
    files = np.asarray(table.ranks, dtype=np.int64)[np.frombuffer(rows, dtype=np.int64)]
    delays = np.asarray(table.file_hours)[files >> LINE_BITS] - captured_hour
    delays = delays[~np.isnan(delays)]
    if delays.size:
        joined.delay_sum += float(delays.sum())
        joined.delay_max = max(joined.delay_max, float(delays.max()))


def _csv_score(data: str, column: int) -> float:
    """The score in a CSV output's column: the fast path of Predictor.predict."""
    values = data.split(",", column + 1)
    if column >= len(values):
        raise MissingAttribute(f"the CSV output has no column {column}")
    try:
        score = float(values[column])
    except ValueError:
        raise LabelValueError("the score is not a number") from None
    if not 0.0 <= score <= 1.0:
        raise InvalidProbability(f"score {score!r} is outside [0, 1]")
    return score
