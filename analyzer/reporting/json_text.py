"""Report files as JSON text: pretty-printed, and valid whatever the numbers in them."""

from __future__ import annotations

import json
import math
from typing import Any


def pretty_json(document: Any) -> bytes:
    """2-space indented JSON and a final newline, as SageMaker's files are written.

    A number JSON cannot hold (a sum past the double range, a NaN) is written as null, never as
    an Infinity or NaN token that JSON readers reject.
    """
    return (json.dumps(_finite(document), indent=2, allow_nan=False) + "\n").encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
