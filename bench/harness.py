"""Shared pieces of the sidecar benchmarks: start the upstream and sidecars, run wrk, read
metrics and RSS, describe the machine, write results under bench/results/.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "examples"))

from loadgen import CSV_ROW, csv_row  # noqa: E402
from processes import REPO_ROOT, Child, Children, free_port, raise_on_sigterm  # noqa: E402

RESULTS_DIR = BENCH_DIR / "results"
# Two cores: the proxy gets one, the upstream and the load generator share the other.
PROXY_CPU = "0"
LOAD_CPU = "1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

__all__ = ["CSV_ROW", "REPO_ROOT", "Child", "Children", "csv_row", "free_port", "raise_on_sigterm"]


def say(message: str) -> None:
    print(message, flush=True)


def machine() -> dict[str, object]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def describe_machine(info: dict[str, object]) -> None:
    say(
        f"machine: {info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, "
        f"load average at start {info['load_average_at_start']}"
    )


def start_upstream(children: Children, cpus: str | None, log_dir: Path) -> int:
    """The trivial raw-asyncio upstream (bench/upstream.py); returns its port once it answers."""
    port = free_port()
    child = children.start(
        "upstream",
        [sys.executable, str(BENCH_DIR / "upstream.py"), "--port", str(port)],
        log_path=log_dir / "upstream.log",
        cpus=cpus,
    )
    child.wait_http(f"http://127.0.0.1:{port}/ping")
    return port


def start_python_proxy(
    children: Children, script: str, upstream_port: int, cpus: str | None, log_dir: Path
) -> int:
    """bench/mini_proxy.py or bench/lean_proxy.py in front of the upstream; returns its port once
    it answers."""
    port = free_port()
    child = children.start(
        script,
        [
            *(sys.executable, str(BENCH_DIR / script)),
            *("--port", str(port), "--upstream-port", str(upstream_port)),
        ],
        log_path=log_dir / f"{script}.log",
        cpus=cpus,
    )
    child.wait_http(f"http://127.0.0.1:{port}/ping")
    return port


@dataclass
class SidecarProcess:
    child: Child
    port: int
    admin_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/invocations"


def start_sidecar(
    children: Children,
    name: str,
    upstream: str,
    work_dir: Path,
    *,
    sampling: float,
    workers: int = 1,
    cpus: str | None = None,
    destination: str | None = None,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
) -> SidecarProcess:
    port, admin = free_port(), free_port()
    argv = [
        sys.executable,
        "-m",
        "sidecar",
        *("--upstream", upstream),
        *("--listen", f"127.0.0.1:{port}"),
        *("--admin-listen", f"127.0.0.1:{admin}"),
        *("--destination", destination or str(work_dir / name / "capture")),
        *("--spool-dir", str(work_dir / name / "spool")),
        *("--endpoint-name", "bench"),
        *("--sampling-percentage", f"{sampling:g}"),
        *("--workers", str(workers)),
        *("--log-level", "warning"),
        *extra,
    ]
    child = children.start(
        f"sidecar {name}", argv, log_path=work_dir / f"{name}.log", cpus=cpus, env=env
    )
    child.wait_http(f"http://127.0.0.1:{admin}/healthz", timeout=ready_timeout)
    child.wait_http(f"http://127.0.0.1:{port}/ping", timeout=ready_timeout)
    return SidecarProcess(child, port, admin)


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    latency_p50_ms: float
    latency_p99_ms: float
    non_2xx: int
    socket_errors: int


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"wrk printed an unexpected duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def lua_script(body: str = CSV_ROW) -> Path:
    """A wrk script that POSTs `body` as text/csv (written once to a temporary file)."""
    path = Path(tempfile.gettempdir()) / f"infertap-bench-{os.getpid()}.lua"
    escaped = body.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = "{escaped}"\nwrk.headers["Content-Type"] = "text/csv"\n'
    )
    return path


def run_wrk(
    url: str,
    seconds: float,
    connections: int,
    cpus: str | None,
    threads: int = 1,
    body: str = CSV_ROW,
) -> WrkResult:
    """One wrk run; raises when wrk fails or prints nothing we can read."""
    command = [
        *(["taskset", "-c", cpus] if cpus else []),
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(lua_script(body)),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    # Anchored: the thread-stats lines also end in a percentage such as "68.99%".
    p50 = re.search(r"^\s+50%\s+(\S+)$", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)$", out, re.MULTILINE)
    if done.returncode != 0 or not (rps and total and p50 and p99):
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {out}{done.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        latency_p50_ms=_duration_ms(p50.group(1)),
        latency_p99_ms=_duration_ms(p99.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def scrape(admin_port: int) -> dict[str, float]:
    """The sidecar's /metrics as {'name{labels}': value} (samples only, no comments)."""
    url = f"http://127.0.0.1:{admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def capture_outcomes(samples: dict[str, float]) -> dict[str, float]:
    """`infertap_capture_records_total` by outcome."""
    prefix = 'infertap_capture_records_total{outcome="'
    return {k[len(prefix) : -2]: v for k, v in samples.items() if k.startswith(prefix)}


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (for --workers, which may fork)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its descendants (every thread), in seconds."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state is field 3, utime field 14 and stime field 15 (1-based).
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its descendants, from /proc/<pid>/status VmRSS."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def write_result(name: str, result: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    result = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **result,
    }
    path.write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
    say(f"result written to {path}")
    return path


def _jsonable(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    return str(value)
