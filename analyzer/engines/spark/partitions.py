"""What each executor runs on its partition: Arrow batches in, one serialised profile out.

The functions are given to `DataFrame.mapInArrow`; each yields a single one-row batch holding
`DatasetProfile.to_bytes()`, which the driver merges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from analyzer.engines.spark import adapter, text_check

PROFILE_SCHEMA = "profile binary"

Columns = Callable[[Any], dict[str, Any]]
ProfilePartition = Callable[[Iterator[Any]], Iterator[Any]]


def profile_text(batches: Iterator[Any]) -> Iterator[Any]:
    """CSV read as text: every value typed from its text, as the local engine does; a value
    holding U+FFFD stops it (text_check: it may stand for bytes that are not UTF-8)."""
    return _profile(text_check.without_replacements(batches), adapter.text_columns)


def profile_text_as_read(batches: Iterator[Any]) -> Iterator[Any]:
    """CSV read as text whose U+FFFD were found to be real ones."""
    return _profile(batches, adapter.text_columns)


def profile_typed(batches: Iterator[Any]) -> Iterator[Any]:
    """Parquet: columns keep their Arrow types."""
    return _profile(batches, adapter.arrow_values)


def profile_json_lines(batches: Iterator[Any]) -> Iterator[Any]:
    """JSON Lines read as lines of text (column `value`), parsed with the project's reader."""
    profile = adapter.DatasetProfile()
    for batch in batches:
        lines = [line for line in batch.column(0).to_pylist() if line and line.strip()]
        if lines:
            for columns, rows in adapter.json_line_columns(lines, "a JSON Lines partition"):
                adapter.update(profile, columns, rows)
    yield _one_row(profile)


def _profile(batches: Iterator[Any], columns: Columns) -> Iterator[Any]:
    profile = adapter.DatasetProfile()
    for batch in batches:
        if batch.num_rows:
            adapter.update(profile, columns(batch), batch.num_rows)
    yield _one_row(profile)


def _one_row(profile: adapter.DatasetProfile) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_pydict({"profile": pa.array([profile.to_bytes()], type=pa.binary())})
