"""Strings from traffic reach the pages as plain text: a `$` pair is not mathtext.

A category value, a feature name taken from JSON keys and an LLM model name are all chosen by
whoever sends requests; matplotlib would read `$…$` in any of them as a formula and fail.
"""

from __future__ import annotations

import html
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from analyzer.__main__ import main
from sidecar.common.layout import partition_key
from tests.analyzer.captures import ENDPOINT, HOUR, VARIANT, json_record, write_local
from tests.analyzer.reporting.chromium import Chromium

CATEGORY = "$_$"  # not a formula matplotlib can parse
KEY = r"a$\x$b"  # an unknown symbol to mathtext
MODEL = "gpt$$mini"
SVG_TEXTS = "[...document.querySelectorAll('svg text')].map(t => t.textContent)"


def _window(hour: int) -> list[str]:
    start = HOUR + timedelta(hours=hour)
    return [
        "--start",
        f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "--end",
        f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
    ]


def _tabular(i: int, shift: int) -> bytes:
    request = {"plan": CATEGORY if i % 3 else "basic", KEY: i % 10 + shift}
    return json_record(
        request, {"score": (i % 7) / 10}, HOUR + timedelta(hours=bool(shift), seconds=i)
    )


def _chat(i: int, shift: int) -> bytes:
    request = {"model": MODEL, "messages": [{"role": "user", "content": "x" * (i % 20 + shift)}]}
    response = {
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "y" * (i % 9 + shift)}}],
        "usage": {"prompt_tokens": i % 20 + shift, "completion_tokens": i % 9 + shift},
    }  # fmt: skip
    return json_record(request, response, HOUR + timedelta(hours=bool(shift), seconds=i))


@pytest.mark.parametrize("record", [_tabular, _chat], ids=["json-features", "llm"])
def test_dollar_signs_in_traffic_reach_both_pages(
    record: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    browser: Chromium,
) -> None:
    captures, reports = tmp_path / "captures", tmp_path / "reports"
    write_local(captures, HOUR, [record(i, 0) for i in range(300)])
    write_local(captures, HOUR + timedelta(hours=1), [record(i, 40) for i in range(300)])
    common = ["--captures", str(captures), "--endpoint-name", ENDPOINT]
    assert main(["baseline", *common, *_window(0), "--output", str(tmp_path / "base")]) == 0
    run = reports / partition_key(ENDPOINT, VARIANT, HOUR + timedelta(hours=1))
    code = main([
        "run", *common, *_window(1), "--output", str(run),
        "--baseline-statistics", str(tmp_path / "base" / "statistics.json"),
        "--baseline-constraints", str(tmp_path / "base" / "constraints.json"),
    ])  # fmt: skip
    assert code == 1  # the shifted hour drifts
    execution = json.loads((run / "execution.json").read_text())
    assert str(run / "report.html") in execution["output_files"]
    page = html.unescape((run / "report.html").read_text())
    expected = [CATEGORY, KEY] if record is _tabular else [MODEL]
    for text in expected:
        assert f">{text}<" in page  # drawn as itself, in a chart's text
    shown = browser.load(run / "report.html", evaluate=SVG_TEXTS)
    assert shown.errors == [] and shown.remote_requests == []
    for text in expected:
        assert text in shown.value  # the charts' text, as a browser has it
    history = ["report", "--reports", str(reports), "--endpoint-name", ENDPOINT]
    assert main([*history, "--output", str(tmp_path / "pages")]) == 0
    assert "report.html not written" not in capsys.readouterr().err
    history_page = html.unescape((tmp_path / "pages" / "history.html").read_text())
    drifted = KEY if record is _tabular else "prompt_chars"
    assert f">{drifted}<" in history_page  # the title of its drift-over-time chart


def test_a_page_that_cannot_be_written_is_said_in_execution_json_and_on_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    captures, run = tmp_path / "captures", tmp_path / "run"
    write_local(captures, HOUR, [_tabular(i, 0) for i in range(50)])
    common = ["--captures", str(captures), "--endpoint-name", ENDPOINT, *_window(0)]
    assert main(["baseline", *common, "--output", str(tmp_path / "base")]) == 0
    (run / "report.html").mkdir(parents=True)  # the page's name is taken: it cannot be written
    code = main([
        "run", *common, "--output", str(run),
        "--baseline-statistics", str(tmp_path / "base" / "statistics.json"),
        "--baseline-constraints", str(tmp_path / "base" / "constraints.json"),
    ])  # fmt: skip
    assert code == 0  # the run itself completed
    execution = json.loads((run / "execution.json").read_text())
    assert str(run / "report.html") not in execution["output_files"]
    [warning] = [w for w in execution["warnings"] if "report.html" in w]
    assert warning.startswith(f"report.html not written ({run / 'report.html'}): ")
    assert f"warning: {warning}" in capsys.readouterr().out
    # Drawn again from the run's files: the same reason, as the command's error.
    assert main(["report", "--run", str(run)]) == 2
    assert f"infertap-analyzer report: error: {warning}" in capsys.readouterr().err
