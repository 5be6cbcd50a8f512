"""CSV that is not UTF-8 on Spark: rejected as the local engine rejects it.

Spark's CSV reader decodes bytes that are not UTF-8 into U+FFFD without a word, so the executors
look for U+FFFD in the values they profile (one search of each column's bytes per batch). A file
may hold U+FFFD as valid UTF-8 too, so when one turns up the driver reads the dataset again as
lines of raw bytes (Spark's text reader does not decode them) and names the first line that is
not UTF-8; only when there is none is the dataset profiled again, without the search.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

REPLACED = "infertap-replacement-character"  # the marker in the executor's error
PROBLEM_SCHEMA = "file string, problem string"
_FFFD = re.compile("\ufffd".encode())


def without_replacements(batches: Iterator[Any]) -> Iterator[Any]:
    """The batches, unless a value holds U+FFFD: then an error carrying REPLACED."""
    for batch in batches:
        for column in batch.columns:
            # The column's UTF-8 bytes searched in place: about 1% of profiling them (a slice's
            # buffer may hold bytes of other rows; a match there only costs the exact check).
            data = column.buffers()[2]
            if data is not None and _FFFD.search(memoryview(data)):
                raise ValueError(f"{REPLACED}: a value holds U+FFFD")
        yield batch


def first_problem(spark: Any, url: str) -> str | None:
    """`<file> is not UTF-8 text: …` for the first line that is not UTF-8, or None."""
    from pyspark.sql import functions

    lines = spark.read.text(url).select(functions.input_file_name().alias("file"), "value")
    found = lines.mapInArrow(_problems, PROBLEM_SCHEMA).limit(1).collect()
    if not found:
        return None
    return f"{found[0].file} is not UTF-8 text: {found[0].problem}"


def _problems(batches: Iterator[Any]) -> Iterator[Any]:
    """Per partition, at most one (file, problem) row: the first line that is not UTF-8."""
    import pyarrow as pa

    for batch in batches:
        values = batch.column(1)
        try:
            values.validate(full=True)  # checks UTF-8 in C++; the bytes are only looked at below
            continue
        except pa.ArrowInvalid:
            pass
        # As bytes: decoding them as text is what fails.
        for index, raw in enumerate(values.view(pa.binary()).to_pylist()):
            try:
                raw.decode("utf-8") if raw is not None else None
            except UnicodeDecodeError as exc:
                problem = (
                    f"byte 0x{raw[exc.start]:02x} at position {exc.start} of a line is not "
                    f"UTF-8 ({exc.reason})"
                )
                file = batch.column(0)[index].as_py()
                yield pa.RecordBatch.from_pydict({"file": [file], "problem": [problem]})
                return
