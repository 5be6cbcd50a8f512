"""constraint_violations.json as SageMaker writes it, for the violations of any monitor."""

from __future__ import annotations

import json
from collections.abc import Sequence

from analyzer.results.violations import ViolationEntry


def violations_to_bytes(violations: Sequence[ViolationEntry]) -> bytes:
    """constraint_violations.json exactly as SageMaker's container writes it (Jackson's pretty
    printer: `" : "` separators, `[ {` … `}, {` … `} ]`, two-space indents, `[ ]` when empty)."""
    if not violations:
        return b'{\n  "violations" : [ ]\n}\n'
    entries = []
    for violation in violations:
        fields = ",\n".join(
            f"    {_json_string(key)} : {_json_string(value)}"
            for key, value in violation.to_json().items()
        )
        entries.append("{\n" + fields + "\n  }")
    body = ", ".join(entries)
    return ('{\n  "violations" : [ ' + body + " ]\n}\n").encode("utf-8")


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
