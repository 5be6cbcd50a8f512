"""Value types as Deequ (and so SageMaker) infers them from text: Integral, Fractional, String.

Deequ matches each non-null text value against `^(-|\\+)? ?\\d+$` (Integral) and
`^(-|\\+)? ?\\d+((\\.\\d+)|((?:\\.\\d+)?[Ee][-+]?\\d+))$` (Fractional); anything else, including
`nan`, `inf`, `.5`, `1.` and `true`, counts as String. Empty text is missing (Spark reads an empty
CSV field as null). A number too large for a double (`1e999`) is counted as non-finite and
profiled as missing: statistics.json cannot hold an infinite mean, and Deequ leaves a value it
cannot use as a number out of its numeric metrics, as it does a null. The common shapes (`-12`,
`3.25`) are recognised with numpy on the whole column; only the rest goes through the regular
expressions one value at a time. Arrow string arrays (the fast CSV reader) are classified with
Arrow's compute kernels instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

INTEGRAL = "Integral"
FRACTIONAL = "Fractional"
STRING = "String"
UNKNOWN = "Unknown"
INFERRED_TYPES = (INTEGRAL, FRACTIONAL, STRING, UNKNOWN)
NUMERIC_TYPES = (INTEGRAL, FRACTIONAL)

INTEGRAL_RE = re.compile(r"^(-|\+)? ?\d+$", re.ASCII)
FRACTIONAL_RE = re.compile(r"^(-|\+)? ?\d+((\.\d+)|((?:\.\d+)?[Ee][-+]?\d+))$", re.ASCII)

_DIGIT_0, _DIGIT_9, _DOT, _PLUS, _MINUS = ord("0"), ord("9"), ord("."), ord("+"), ord("-")


@dataclass(frozen=True, slots=True)
class TextClasses:
    """The classification of one column of text values."""

    n_missing: int
    n_integral: int
    numbers: npt.NDArray[np.float64]  # every Integral or Fractional value, parsed
    strings: npt.NDArray[np.str_]  # every String value, as text
    # Counts of the numbers' texts as written (distinct texts, counts); computed only on demand.
    number_text_counts: Callable[[], tuple[list[str], list[int]]]
    # Numbers whose value is not finite ("1e999"): left out of `numbers`, profiled as missing.
    n_non_finite: int = 0

    @property
    def n_fractional(self) -> int:
        return len(self.numbers) - self.n_integral


def classify_text(values: npt.NDArray[np.str_]) -> TextClasses:
    """Classify a 1-D numpy array of text (dtype `<U…`)."""
    n = len(values)
    if n == 0 or values.dtype.itemsize == 0:
        return TextClasses(n, 0, np.empty(0), np.empty(0, dtype=str), _no_counts)
    width = values.dtype.itemsize // 4
    codes = np.ascontiguousarray(values).view(np.uint32).reshape(n, width)
    is_digit = (codes >= _DIGIT_0) & (codes <= _DIGIT_9)
    is_pad = codes == 0
    is_dot = codes == _DOT
    leading_sign = (codes[:, 0] == _PLUS) | (codes[:, 0] == _MINUS)
    missing = is_pad[:, 0]
    n_digits = is_digit.sum(axis=1)

    plain = is_digit | is_pad
    plain[:, 0] |= leading_sign
    simple_int = plain.all(axis=1) & (n_digits > 0)

    dotted = plain | is_dot
    one_dot = is_dot.sum(axis=1) == 1
    dot_at = np.argmax(is_dot, axis=1)
    rows = np.arange(n)
    before = np.where(dot_at > 0, is_digit[rows, np.maximum(dot_at - 1, 0)], False)
    after_index = np.minimum(dot_at + 1, width - 1)
    after = np.where(dot_at + 1 < width, is_digit[rows, after_index], False)
    simple_frac = dotted.all(axis=1) & one_dot & before & after & ~simple_int

    rest = ~(missing | simple_int | simple_frac)
    integral = simple_int.copy()
    fractional = simple_frac.copy()
    if rest.any():
        for index in np.flatnonzero(rest):
            text = str(values[index])
            if INTEGRAL_RE.fullmatch(text):
                integral[index] = True
            elif FRACTIONAL_RE.fullmatch(text):
                fractional[index] = True
    numeric = integral | fractional
    numbers = _parse_numbers(values[numeric])
    finite = np.isfinite(numbers)
    number_texts = values[numeric][finite]
    return TextClasses(
        n_missing=int(missing.sum()),
        n_integral=int(integral[numeric][finite].sum()),
        numbers=numbers[finite],
        strings=values[~(numeric | missing)],
        number_text_counts=lambda: _unique_counts(number_texts),
        n_non_finite=int(len(numbers) - len(number_texts)),
    )


def text_counts(texts: npt.NDArray[np.str_]) -> Callable[[], tuple[list[str], list[int]]]:
    """A `number_text_counts` for texts already at hand."""
    return lambda: _unique_counts(texts)


def _unique_counts(texts: npt.NDArray[np.str_]) -> tuple[list[str], list[int]]:
    uniques, counts = np.unique(texts, return_counts=True)
    return uniques.tolist(), counts.tolist()


def _no_counts() -> tuple[list[str], list[int]]:
    return [], []


def classify_arrow(column: Any) -> TextClasses:
    """Classify a pyarrow string array (nulls and "" missing) with Arrow's vectorised kernels."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pc.fill_null(column, "")
    missing = pc.equal(column, "")
    integral = pc.match_substring_regex(column, INTEGRAL_RE.pattern)
    fractional = pc.and_not(pc.match_substring_regex(column, FRACTIONAL_RE.pattern), integral)
    numeric = pc.or_(integral, fractional)
    numeric_texts = pc.filter(column, numeric)
    # Deequ allows one space after the sign ("- 5"); Arrow's parser does not.
    parsed_all = pc.cast(pc.replace_substring(numeric_texts, " ", ""), pa.float64())
    finite = pc.is_finite(parsed_all)
    number_texts = pc.filter(numeric_texts, finite)
    parsed = pc.filter(parsed_all, finite)
    strings = pc.filter(column, pc.invert(pc.or_(numeric, missing)))

    def counts() -> tuple[list[str], list[int]]:
        pairs = pc.value_counts(number_texts)
        return pairs.field("values").to_pylist(), pairs.field("counts").to_pylist()

    n_non_finite = len(parsed_all) - len(parsed)
    integral_finite = pc.filter(pc.filter(integral, numeric), finite)
    return TextClasses(
        n_missing=pc.sum(missing).as_py() or 0,
        n_integral=pc.sum(integral_finite).as_py() or 0,
        numbers=np.asarray(parsed.to_numpy(zero_copy_only=False), dtype=np.float64),
        strings=np.asarray(strings.to_numpy(zero_copy_only=False), dtype=str),
        number_text_counts=counts,
        n_non_finite=n_non_finite,
    )


def _parse_numbers(text: npt.NDArray[np.str_]) -> npt.NDArray[np.float64]:
    try:
        return text.astype(np.float64)
    except ValueError:
        # Deequ allows one space after the sign ("- 5"), which float() does not.
        return np.array([float(str(t).replace(" ", "")) for t in text], dtype=np.float64)


def classify_one(text: str) -> str:
    """The class of one text value: Integral, Fractional, String or Missing."""
    if text == "":
        return "Missing"
    if INTEGRAL_RE.fullmatch(text):
        return "Integral"
    if FRACTIONAL_RE.fullmatch(text):
        return "Fractional"
    return "String"
