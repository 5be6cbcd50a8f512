"""Fixtures of the report tests: one headless Chromium per session, real runs made once."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analyzer.reporting import chromium
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "examples"))
import report_runs  # examples/ is a folder of scripts, not a package

# Screenshots for a person to look at after `make test`.
SCREENSHOTS = REPO_ROOT / "test-screenshots"
HOURS = 6
EMPTY_HOUR = 2  # no traffic: that run is Failed
DRIFT_FROM = 4


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[chromium.Chromium]:
    """Debian's chromium, headless, network cut; installed by `make system-deps`."""
    if chromium.find_chromium() is None:
        pytest.fail("chromium is not installed: run `make system-deps` (apt-get install chromium)")
    browser = chromium.start(tmp_path_factory.mktemp("chromium"))
    assert browser is not None
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir()
    return SCREENSHOTS


@pytest.fixture(scope="session")
def history_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOURS real hourly runs of a 6-feature model; no traffic in EMPTY_HOUR; drift from
    DRIFT_FROM on (f002 shifted, f003 partly missing, segment shares moved)."""
    folder = tmp_path_factory.mktemp("history")
    return Path(
        report_runs.history(
            folder, features=6, hours=HOURS, drift_from=DRIFT_FROM, empty_hours=(EMPTY_HOUR,)
        )
    )


def hour_folder(root: Path, index: int) -> Path:
    return Path(
        report_runs.report_folder(root, "churn", report_runs.FIRST_HOUR + index * report_runs.HOUR)
    )
