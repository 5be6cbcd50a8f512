"""Report files as JSON text: pretty-printed, and valid whatever the numbers in them."""

from __future__ import annotations

import json
import math
from typing import Any


def pretty_json(document: Any, non_finite: Any = None) -> bytes:
    """2-space indented JSON and a final newline, as SageMaker's files are written.

    A number JSON cannot hold (a sum past the double range, a NaN) is written as `non_finite`
    (null by default; model-quality files write "NaN", as SageMaker does), never as an Infinity or
    NaN token that JSON readers reject.
    """
    finite = _finite(document, non_finite)
    return (json.dumps(finite, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _finite(value: Any, non_finite: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else non_finite
    if isinstance(value, dict):
        return {key: _finite(item, non_finite) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item, non_finite) for item in value]
    return value
