"""The fast CSV path for baselines: pyarrow's multi-threaded reader, typed with Arrow's kernels.

Every column is read as text and classified as Deequ does (`inference.classify_arrow`), so the
statistics are the same as through the `csv` module, several times faster. Any problem the
reader meets (a ragged row, bad UTF-8, a header it cannot skip) raises `FallBack`: the caller
then reads the file with the `csv` module, whose errors name the line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from analyzer.profiling.types import TextClasses, classify_arrow

BLOCK_BYTES = 16 * 1024 * 1024


class FallBack(Exception):
    """The Arrow reader cannot read this file the way the csv module would; use that instead."""


def available() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def chunks(
    path: Path, names: Sequence[str], skip_rows: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[dict[str, TextClasses], int]]:
    """Batches of classified columns (about `block_bytes` of CSV each) and their row counts."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(column_names=list(names), skip_rows=skip_rows, block_size=block_bytes)
    parse = pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        stream = pa.input_stream(str(path), compression="detect")
        with pacsv.open_csv(stream, read, parse, convert) as reader:
            for batch in reader:
                columns = {name: classify_arrow(batch.column(i)) for i, name in enumerate(names)}
                yield columns, batch.num_rows
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise FallBack(str(exc)) from exc
