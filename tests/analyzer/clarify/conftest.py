"""smclarify (Clarify's open-source bias metrics) as the oracle: imported once per session."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def smclarify_report() -> ModuleType:
    """smclarify.bias.report (heavy: pandas, scikit-learn), imported once."""
    from smclarify.bias import report

    module: ModuleType = report
    return module
