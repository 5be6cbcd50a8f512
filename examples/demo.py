"""`make demo`: model server + sidecar + traffic with a drifted phase + baseline + monitoring.

Capture partitions are hourly by inference time, so both phases of a one-minute demo would land in
the same hour. Instead of waiting an hour, each phase goes through its own sidecar with its own
endpoint name (`breast-cancer-clean`, `breast-cancer-drifted`) in front of the same model server,
and each endpoint is monitored over the hour(s) the demo ran in.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from demo_analysis import (
    AnalyzerFailed,
    PhaseReport,
    make_baseline,
    monitor_phases,
    summary_table,
)
from demo_fairness import FOLDERS as FAIRNESS_FOLDERS
from demo_fairness import fairness_table, run_fairness
from demo_fairness import unexpected as fairness_unexpected
from demo_live import live_phase
from demo_llm import llm_traffic, monitor_llm, start_llm_server
from demo_quality import QUALITY_FOLDERS, QualityReport, model_quality, quality_table, unexpected
from demo_reports import history_page, run_pages
from demo_traffic import (
    DRIFT_SHIFTS,
    MISSING_FEATURE,
    MISSING_SHARE,
    clean_rows,
    drifted_rows,
    send_csv_rows,
)
from model_server import load_data
from processes import Child, ChildError, Children, free_port, raise_on_sigterm

VARIANT = "AllTraffic"
PHASES = ("clean", "drifted")
EXPECTED = {
    "clean": "Completed",
    "drifted": "CompletedWithViolations",
    "llm-clean": "Completed",
    "llm-drifted": "CompletedWithViolations",
}
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.1f}s] {message}", flush=True)


@dataclass
class Sidecar:
    endpoint: str
    child: Child
    port: int
    admin_port: int


def start_sidecar(
    children: Children, out: Path, endpoint: str, upstream: str, flush_interval: float
) -> Sidecar:
    port, admin = free_port(), free_port()
    argv = [
        sys.executable,
        "-m",
        "sidecar",
        *("--upstream", upstream),
        *("--listen", f"127.0.0.1:{port}"),
        *("--admin-listen", f"127.0.0.1:{admin}"),
        *("--destination", str(out / "capture")),
        *("--spool-dir", str(out / "spool" / endpoint)),
        *("--endpoint-name", endpoint),
        *("--variant-name", VARIANT),
        *("--sampling-percentage", "100"),
        *("--flush-interval", str(flush_interval)),
        *("--shutdown-grace", "10"),
    ]
    child = children.start(f"sidecar {endpoint}", argv, log_path=out / "logs" / f"{endpoint}.log")
    return Sidecar(endpoint, child, port, admin)


def delivered_records(out: Path, endpoint: str) -> tuple[int, int]:
    """(files, records) delivered to the local destination for `endpoint`."""
    files = list((out / "capture" / endpoint / VARIANT).rglob("*.jsonl"))
    records = sum(path.read_bytes().count(b"\n") for path in files)
    return len(files), records


def spool_files(out: Path, endpoint: str) -> int:
    """Capture files still in the sidecar's spool (not its hidden lock file)."""
    folder = out / "spool" / endpoint
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def log_messages(path: Path | None, offset: int) -> list[str]:
    """The `message` of each JSON log line written after byte `offset`."""
    if path is None or not path.exists():
        return []
    messages = []
    with path.open("rb") as handle:
        handle.seek(offset)
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and "message" in entry:
                messages.append(str(entry["message"]))
    return messages


def captured_metric(admin_port: int) -> float:
    """`infertap_capture_records_total{outcome="captured"}` from the admin port (-1 if absent)."""
    url = f"http://127.0.0.1:{admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
        for line in text.splitlines():
            if line.startswith('infertap_capture_records_total{outcome="captured"}'):
                return float(line.rsplit(" ", 1)[-1])
    return -1.0


def wait_captured(admin_port: int, expected: int, seconds: float = 10.0) -> float:
    """Records reach the spool shortly after their responses: wait for them, up to `seconds`."""
    deadline = time.monotonic() + seconds
    captured = captured_metric(admin_port)
    while captured < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        captured = captured_metric(admin_port)
    return captured


def drain(out: Path, sidecar: Sidecar, sent: int) -> int:
    """SIGTERM the sidecar and report what its drain delivered; return records delivered."""
    _, before = delivered_records(out, sidecar.endpoint)
    pending = spool_files(out, sidecar.endpoint)
    say(
        f"  {sidecar.endpoint}: {before}/{sent} records delivered so far, "
        f"{pending} file(s) in the spool; sending SIGTERM to PID {sidecar.child.pid}"
    )
    log_path = sidecar.child.log_path
    offset = log_path.stat().st_size if log_path and log_path.exists() else 0
    stopped = time.monotonic()
    code = sidecar.child.stop(timeout=30)
    say(f"  {sidecar.endpoint} log: " + " -> ".join(log_messages(log_path, offset)))
    files, after = delivered_records(out, sidecar.endpoint)
    say(
        f"  {sidecar.endpoint}: exited with code {code} after {time.monotonic() - stopped:.1f}s; "
        f"{after}/{sent} records in {files} file(s), "
        f"{spool_files(out, sidecar.endpoint)} file(s) left in the spool"
    )
    return after


def clear_previous_run(out: Path) -> None:
    for name in (
        "capture", "spool", "logs", "baseline", "baseline-llm", "monitoring", "history",
        *QUALITY_FOLDERS, *FAIRNESS_FOLDERS,
    ):  # fmt: skip
        shutil.rmtree(out / name, ignore_errors=True)
    (out / "train.csv").unlink(missing_ok=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("demo-output"), help="work folder")
    parser.add_argument("--clean-rows", type=int, default=1500, help="requests, one row each")
    parser.add_argument("--drifted-rows", type=int, default=1500, help="requests, one row each")
    parser.add_argument(
        "--llm-streams", type=int, default=300, help="streamed chats per LLM phase (0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="600 + 600 rows, 120 + 120 streams")
    parser.add_argument("--history-hours", type=int, default=12, help="hourly runs in the history")
    parser.add_argument("--seed", type=int, default=7, help="traffic random seed")
    parser.add_argument("--flush-interval", type=float, default=2.0, help="sidecar file age limit")
    parser.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the live phase: `watch` flags a stuck feature within a minute (default: on, "
        "off with --quick)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.clean_rows, args.drifted_rows, args.history_hours = 600, 600, 5
        args.llm_streams = min(args.llm_streams, 120)
    if args.live is None:
        args.live = not args.quick
    return args


class DemoFailed(RuntimeError):
    """A step of the demo went wrong; the message says which and where the logs are."""


def start_servers(children: Children, out: Path, flush_interval: float) -> list[Sidecar]:
    """The model server (which writes train.csv), then one sidecar per phase in front of it."""
    model_port = free_port()
    say(f"starting the model server on 127.0.0.1:{model_port} (trains on the breast-cancer data)")
    server = children.start(
        "model server",
        [
            *(sys.executable, "examples/model_server.py"),
            *("--port", str(model_port), "--write-training-data", str(out / "train.csv")),
        ],
        log_path=out / "logs" / "model_server.log",
    )
    upstream = f"http://127.0.0.1:{model_port}"
    server.wait_http(f"{upstream}/ping")
    say(f"  model server ready, PID {server.pid}")
    say("starting two sidecars in front of it, 100% sampling, local-folder destination")
    sidecars = [
        start_sidecar(children, out, f"breast-cancer-{phase}", upstream, flush_interval)
        for phase in PHASES
    ]
    for sidecar in sidecars:
        sidecar.child.wait_http(f"http://127.0.0.1:{sidecar.admin_port}/readyz")
        say(
            f"  {sidecar.endpoint}: PID {sidecar.child.pid}, traffic on :{sidecar.port}, "
            f"admin (/metrics, /readyz) on :{sidecar.admin_port}"
        )
    return sidecars


def start_llm_servers(children: Children, out: Path, flush_interval: float) -> list[Sidecar]:
    """The OpenAI-compatible example server, then one sidecar per LLM phase in front of it."""
    server, upstream = start_llm_server(children, out)
    say(f"LLM phase: an OpenAI-compatible server streaming token by token, PID {server.pid}")
    sidecars = [
        start_sidecar(children, out, f"support-chat-{phase}", upstream, flush_interval)
        for phase in PHASES
    ]
    for sidecar in sidecars:
        sidecar.child.wait_http(f"http://127.0.0.1:{sidecar.admin_port}/readyz")
        say(f"  {sidecar.endpoint}: sidecar PID {sidecar.child.pid}, traffic on :{sidecar.port}")
    return sidecars


def send_traffic(args: argparse.Namespace, sidecars: Sequence[Sidecar]) -> list[PhaseReport]:
    """The clean rows through the first sidecar, the drifted rows through the second."""
    features, data, _ = load_data()
    rng = np.random.default_rng(args.seed)
    rows = {
        "clean": clean_rows(data, args.clean_rows, rng),
        "drifted": drifted_rows(data, features, args.drifted_rows, rng),
    }
    say(
        "drifted phase: means of "
        + ", ".join(f"{name} +{shift:g} sd" for name, shift in DRIFT_SHIFTS.items())
        + f"; {MISSING_FEATURE} missing in ~{MISSING_SHARE:.0%} of rows"
    )
    reports = []
    for phase, sidecar in zip(PHASES, sidecars, strict=True):
        result = send_csv_rows(f"http://127.0.0.1:{sidecar.port}/invocations", rows[phase])
        say(
            f"{phase} phase: {result.ok}/{result.sent} requests answered 200 via the sidecar "
            f"in {result.seconds:.1f}s; sidecar counts "
            f"{wait_captured(sidecar.admin_port, result.ok):.0f} captured"
        )
        if result.failed:
            raise DemoFailed(f"{result.failed} {phase} requests failed; see the logs")
        reports.append(PhaseReport(phase, sidecar.endpoint, result.ok))
    return reports


def analyze(out: Path, reports: Sequence[PhaseReport], window: tuple[datetime, datetime]) -> None:
    """Baseline from train.csv, then one monitoring run per phase over `window`."""
    say("analyzer baseline: statistics and constraints from the training CSV")
    baseline = make_baseline(out / "train.csv", out / "baseline", out / "logs" / "baseline.log")
    monitor_phases(out, reports, baseline, window, say)


def print_summary(out: Path, reports: Sequence[PhaseReport], history: Path) -> int:
    """The table and where the files are; 0 when each phase has its expected status."""
    print()
    print(summary_table(reports))
    print()
    print(f"training data + baseline:  {out / 'train.csv'}, {out / 'baseline'}/")
    print(f"captured traffic:          {out / 'capture'}/<endpoint>/{VARIANT}/YYYY/MM/DD/HH/")
    print(f"monitoring reports:        {out / 'monitoring'}/<endpoint>/")
    print(f"process logs:              {out / 'logs'}/")
    print()
    print("pages to open in a browser (self-contained, no network needed):")
    for page in run_pages(out / "monitoring"):
        print(f"  run report:   {page}")
    print(f"  history:      {history}")
    wrong = [r for r in reports if r.status != EXPECTED[r.phase]]
    for report in wrong:
        say(
            f"unexpected: the {report.phase} phase is {report.status}, not {EXPECTED[report.phase]}"
        )
    return 1 if wrong else 0


def hour_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours covering [start, end]: the partitions the demo wrote into."""
    first = start.replace(minute=0, second=0, microsecond=0)
    return first, end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def run(args: argparse.Namespace, children: Children) -> int:
    out: Path = args.output.resolve()
    clear_previous_run(out)
    started = datetime.now(UTC)
    sidecars = start_servers(children, out, args.flush_interval)
    reports = send_traffic(args, sidecars)
    llm_reports: list[PhaseReport] = []
    if args.llm_streams:
        llm_sidecars = start_llm_servers(children, out, args.flush_interval)
        sidecars += llm_sidecars
        llm_reports = llm_traffic(llm_sidecars, args.llm_streams, args.seed, say, wait_captured)
    say("stopping the sidecars with SIGTERM: they seal and deliver everything before exiting")
    for sidecar, report in zip(sidecars, reports + llm_reports, strict=True):
        delivered = drain(out, sidecar, report.records)
        if delivered != report.records:
            raise DemoFailed(f"{report.records - delivered} {report.phase} records were lost")
    children.stop_all()
    window = hour_window(started, datetime.now(UTC))
    try:
        analyze(out, reports, window)
        quality = model_quality(
            out, {"good": reports[0].endpoint, "failing": reports[1].endpoint}, window
        )
        if llm_reports:
            say("analyzer baseline --captures: the clean LLM phase's traffic is the reference")
            monitor_llm(out, llm_reports, window, say)
        say(f"a model's history: {args.history_hours} hourly runs, drifting in the last three")
        history = history_page(out, args.history_hours, features=8)
        fairness = run_fairness(
            out,
            children,
            lambda name, upstream: start_sidecar(
                children, out, name, upstream, args.flush_interval
            ),
            lambda sidecar, sent: drain(out, sidecar, sent),
            lambda: hour_window(started, datetime.now(UTC)),
            say,
            quick=args.quick,
        )
    except AnalyzerFailed as exc:
        say(f"error: the analyzer failed: {exc}")
        return 2
    code = max(print_summary(out, reports + llm_reports, history), print_quality(out, quality))
    code = max(code, print_fairness(fairness))
    if args.live:
        return max(code, print_live(out, args.seed))
    return code


def print_fairness(reports: list[Any]) -> int:
    """Bias and attribution of the fairness hours; 0 when each has its expected status."""
    say("fairness: SageMaker Clarify's bias drift and feature attribution drift monitors")
    print()
    print(fairness_table(reports))
    print()
    for problem in fairness_unexpected(reports):
        say(f"unexpected: {problem}")
    return 1 if fairness_unexpected(reports) else 0


def print_live(out: Path, seed: int) -> int:
    """The live phase and its timeline; 1 when the live violation never came."""
    baseline = (out / "baseline" / "statistics.json", out / "baseline" / "constraints.json")
    timeline = live_phase(out, baseline, say, seed)
    print()
    print("live monitoring timeline (infertap-analyzer watch --window 1m --step 10s):")
    for line in timeline.lines():
        print(line)
    print()
    if timeline.flagged is None:
        say("unexpected: the live violation did not reach /metrics within two minutes")
        return 1
    return 0


def print_quality(out: Path, reports: list[QualityReport]) -> int:
    """Model quality of the good and the failing hour; 0 when each has its expected status."""
    say("model quality: labels posted for the captured traffic, joined by eventId")
    print()
    print(quality_table(reports))
    print()
    print(
        f"ground truth + reports:    {out / 'ground-truth'}/, {out / 'model-quality'}/<endpoint>/"
    )
    for problem in unexpected(reports):
        say(f"unexpected: {problem}")
    return 1 if unexpected(reports) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    children = Children()
    try:
        return run(args, children)
    except (ChildError, DemoFailed) as exc:
        say(f"error: {exc}; logs in {args.output.resolve() / 'logs'}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; stopping the processes this demo started")
        return 130
    finally:
        children.stop_all()
        say("done")


if __name__ == "__main__":
    sys.exit(main())
