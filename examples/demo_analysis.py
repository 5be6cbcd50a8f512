"""The demo's monitoring step: run the analyzer CLI (baseline, then one run per phase) and read
what it wrote, for the summary table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from processes import REPO_ROOT, tail

EXIT_STATUS = {0: "Completed", 1: "CompletedWithViolations", 2: "Failed"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class AnalyzerFailed(RuntimeError):
    """The analyzer CLI is missing or did not do its job; the message says which command."""


@dataclass
class PhaseReport:
    phase: str
    endpoint: str
    records: int
    status: str = "not run"
    exit_code: int | None = None
    violations: list[tuple[str, str]] = field(default_factory=list)  # (feature, check)
    output: Path | None = None


def analyzer(args: Sequence[str], log_path: Path, timeout: float = 120.0) -> int:
    """Run `python -m analyzer ARGS` with output to `log_path`; return its exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "analyzer", *args]
    with log_path.open("wb") as log:
        try:
            done = subprocess.run(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AnalyzerFailed(
                f"`analyzer {args[0]}` did not finish within {timeout:g}s; log {log_path}"
            ) from None
    return done.returncode


def make_baseline(dataset: Path, output: Path, log_path: Path) -> tuple[Path, Path]:
    """`analyzer baseline`; return the statistics and constraints files it wrote."""
    code = analyzer(["baseline", "--dataset", str(dataset), "--output", str(output)], log_path)
    statistics, constraints = output / "statistics.json", output / "constraints.json"
    if code != 0 or not statistics.exists() or not constraints.exists():
        raise AnalyzerFailed(
            f"`analyzer baseline` exited with {code} and wrote "
            f"{sorted(p.name for p in output.glob('*')) if output.exists() else 'nothing'}; "
            f"log {log_path}:\n{tail(log_path)}"
        )
    return statistics, constraints


def monitor(
    report: PhaseReport,
    captures: Path,
    baseline: tuple[Path, Path],
    window: tuple[datetime, datetime],
    output: Path,
    log_path: Path,
) -> None:
    """`analyzer run` over one endpoint's window; fill `report` from its exit code and files."""
    args = [
        "run",
        *("--captures", str(captures)),
        *("--endpoint-name", report.endpoint),
        *("--variant-name", "AllTraffic"),
        *("--baseline-statistics", str(baseline[0])),
        *("--baseline-constraints", str(baseline[1])),
        *("--start", window[0].strftime(TIME_FORMAT)),
        *("--end", window[1].strftime(TIME_FORMAT)),
        *("--output", str(output)),
    ]
    code = analyzer(args, log_path)
    report.exit_code = code
    report.output = output
    if code not in EXIT_STATUS:
        raise AnalyzerFailed(
            f"`analyzer run` for {report.endpoint} exited with {code}; "
            f"log {log_path}:\n{tail(log_path)}"
        )
    report.status = EXIT_STATUS[code]
    for path in sorted(output.rglob("constraint_violations.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for violation in document.get("violations", []):
            report.violations.append(
                (str(violation.get("feature_name")), str(violation.get("constraint_check_type")))
            )
    if code == 1 and not report.violations:
        raise AnalyzerFailed(
            f"`analyzer run` for {report.endpoint} reported violations but no "
            f"constraint_violations.json under {output} lists any"
        )


def monitor_phases(
    out: Path,
    reports: Sequence[PhaseReport],
    baseline: tuple[Path, Path],
    window: tuple[datetime, datetime],
    say: Callable[[str], None],
) -> None:
    """`analyzer run` for each phase's endpoint over `window`, reports under out/monitoring."""
    for report in reports:
        say(f"analyzer run: {report.endpoint}, hours {window[0]:%H:%M}-{window[1]:%H:%M} UTC")
        monitor(
            report,
            out / "capture",
            baseline,
            window,
            out / "monitoring" / report.endpoint,
            out / "logs" / f"run-{report.endpoint}.log",
        )


def summary_table(reports: Sequence[PhaseReport]) -> str:
    """A plain-text table: phase, endpoint, records, status, violations grouped by check."""
    header = ("phase", "endpoint", "records", "status", "violations (check: features)")
    rows: list[tuple[str, ...]] = [header]
    for report in reports:
        by_check: dict[str, list[str]] = {}
        for feature, check in report.violations:
            by_check.setdefault(check, []).append(feature)
        lines = [
            f"{check}: {', '.join(sorted(names))}" for check, names in sorted(by_check.items())
        ]
        first = (report.phase, report.endpoint, str(report.records), report.status)
        rows.append((*first, lines[0] if lines else "none"))
        rows.extend(("", "", "", "", line) for line in lines[1:])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    out = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  ".join([*cells, row[-1]]).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in [*widths, len(header[-1])]))
    return "\n".join(out)
