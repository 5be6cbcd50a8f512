"""What the Clarify monitors read and write: analysis.json (the baseline is one too, as in
SageMaker) and constraint_violations.json (`{"version": "1.0", "violations": [...]}`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from analyzer.errors import BaselineError
from analyzer.reading import storage
from analyzer.reporting.json_text import pretty_json

ANALYSIS_FILE = "analysis.json"
VIOLATIONS_FILE = "constraint_violations.json"
EXECUTION_FILE = "execution.json"


def read_analysis(url: str) -> dict[str, Any]:
    """A baseline analysis.json (the constraints file of both Clarify monitors)."""
    try:
        document = json.loads(storage.read_bytes(url))
    except ValueError as exc:
        raise BaselineError(f"{url} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BaselineError(f"{url} is not an analysis.json (a JSON object)")
    return document


def write_json(output: str, name: str, document: Any, written: list[str]) -> None:
    url = storage.join(output, name)
    storage.write_bytes(url, pretty_json(document))
    written.append(url)


def violations_document(violations: Sequence[Any]) -> dict[str, Any]:
    entries: list[Mapping[str, str]] = [v.to_json() for v in violations]
    return {"version": "1.0", "violations": entries}
