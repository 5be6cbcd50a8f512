"""Fixtures for sidecar tests: a real upstream subprocess and real `python -m sidecar` processes.

`upstream` (session): the model-server-like app of tests/sidecar/upstream.py on a free port.
`start_sidecar(**flags)`: starts the sidecar CLI in front of it with free ports, a temporary
spool and a temporary local-folder destination, and waits until it is ready.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO_ROOT, free_port, port_open, wait_until


@dataclass
class Upstream:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The test upstream (routes listed in tests/sidecar/upstream.py), one per session."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sidecar.upstream", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), timeout=20, what="test upstream")
        yield Upstream(port, process)
    finally:
        # A test server with nothing to drain: no graceful wait for held streams.
        process.kill()
        process.wait(timeout=10)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET, without raising on error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metric_key(name: str, labels: Mapping[str, str]) -> str:
    """`name{a="1",b="2"}` with labels sorted, the key format of SidecarProcess.metrics()."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


@dataclass
class SidecarProcess:
    """A running `python -m sidecar`; stop it with terminate()/kill() and wait()."""

    process: subprocess.Popen[bytes]
    port: int
    admin_port: int
    spool_dir: Path
    destination: Path
    log_path: Path
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def metrics_text(self) -> str:
        status, body = http_get(self.admin_url + "/metrics")
        assert status == 200, f"/metrics answered {status}"
        return body.decode("utf-8")

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics, keyed `name{label="value",...}` (labels sorted)."""
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                samples[metric_key(sample.name, sample.labels)] = sample.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """One sample's value, 0.0 when absent: metric("infertap_requests_total", code="200")."""
        return self.metrics().get(metric_key(name, labels), 0.0)

    def logs(self) -> str:
        """Everything the process wrote to stdout and stderr so far (JSON log lines)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                out.append(orjson.loads(line))
        return out

    def capture_files(self) -> list[Path]:
        """Delivered capture files under the local destination, sorted by path."""
        if not self.destination.is_dir():
            return []
        return sorted(self.destination.rglob("*.jsonl"))

    def records(self) -> list[dict[str, Any]]:
        """Every delivered capture record, parsed, in file order."""
        out = []
        for path in self.capture_files():
            for line in path.read_bytes().splitlines():
                if line:
                    out.append(orjson.loads(line))
        return out

    def wait_for_records(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until at least `count` records are delivered; return them all."""
        wait_until(lambda: len(self.records()) >= count, timeout=timeout, what=f"{count} records")
        return self.records()

    def ready(self) -> bool:
        try:
            return http_get(self.admin_url + "/readyz", timeout=2)[0] == 200
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM: graceful drain."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the sidecar and every process it started (its process group)."""
        # The group too when the leader has exited: its workers may still be shutting down.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for exit; the exit code."""
        return self.process.wait(timeout=timeout)


StartSidecar = Callable[..., SidecarProcess]


def _flag_args(flags: Mapping[str, object]) -> list[str]:
    argv: list[str] = []
    for name, value in flags.items():
        if value is None:
            continue
        argv += ["--" + name.replace("_", "-"), str(value)]
    return argv


def launch_sidecar(
    upstream_url: str,
    base: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready: bool = True,
    **flags: object,
) -> SidecarProcess:
    """Start `python -m sidecar` with its files below `base` (see `start_sidecar`).

    The caller must `.kill()` it; prefer the `start_sidecar` fixture, which does.
    """
    base.mkdir(parents=True, exist_ok=True)
    port, admin_port = free_port(), free_port()
    while admin_port == port:
        admin_port = free_port()
    options: dict[str, object] = {
        "upstream": upstream_url,
        "listen": f"127.0.0.1:{port}",
        "admin_listen": f"127.0.0.1:{admin_port}",
        "destination": str(base / "destination"),
        "spool_dir": str(base / "spool"),
        "endpoint_name": "test-endpoint",
        "sampling_percentage": 100,
        "flush_interval": 0.2,
        "shutdown_grace": 5,
    }
    options.update(flags)
    argv = [sys.executable, "-m", "sidecar", *_flag_args(options)]
    log_path = base / "sidecar.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("INFERTAP_")}
    child_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    child_env.update(env or {})
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=child_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sidecar = SidecarProcess(
        process=process,
        port=int(str(options["listen"]).rpartition(":")[2]),
        admin_port=int(str(options["admin_listen"]).rpartition(":")[2]),
        spool_dir=Path(str(options["spool_dir"])),
        destination=Path(str(options["destination"])),
        log_path=log_path,
        argv=argv,
    )
    if ready:
        try:
            _wait_ready(sidecar)
        except BaseException:
            sidecar.kill()
            raise
    return sidecar


@pytest.fixture
def start_sidecar(upstream: Upstream, tmp_path: Path) -> Iterator[StartSidecar]:
    """Factory: `start_sidecar(*, env=None, ready=True, **flags) -> SidecarProcess`.

    Flags are CLI options with `_` for `-` (`sampling_percentage=100`); a value of None leaves
    the option out. Defaults: --upstream the `upstream` fixture, --listen and --admin-listen on
    free 127.0.0.1 ports, --destination and --spool-dir in a fresh folder below tmp_path,
    --endpoint-name test-endpoint, --sampling-percentage 100, --flush-interval 0.2,
    --shutdown-grace 5. `env` adds environment variables (INFERTAP_* from the test process are
    not inherited). With ready=True (default) it waits up to 20 s for /readyz to answer 200 (or,
    when /readyz blames the upstream, for the traffic port to accept connections). Every process
    started is killed (its whole process group) at teardown.
    """
    started: list[SidecarProcess] = []

    def start(
        *, env: Mapping[str, str] | None = None, ready: bool = True, **flags: object
    ) -> SidecarProcess:
        base = tmp_path / f"sidecar-{len(started)}"
        sidecar = launch_sidecar(upstream.url, base, env=env, ready=ready, **flags)
        started.append(sidecar)
        return sidecar

    yield start

    for sidecar in started:
        sidecar.kill()


def _wait_ready(sidecar: SidecarProcess, timeout: float = 20.0) -> None:
    def up() -> bool:
        if not sidecar.alive():
            raise AssertionError(
                f"sidecar exited with {sidecar.process.returncode}:\n{sidecar.logs()}"
            )
        try:
            status, body = http_get(sidecar.admin_url + "/readyz", timeout=2)
        except OSError:
            return False
        if status == 200:
            return True
        # Serving, but the upstream is unhealthy (the test wants that): ready enough.
        reason = orjson.loads(body).get("reason", "") if body.startswith(b"{") else ""
        return reason.startswith("upstream") and port_open(sidecar.port)

    wait_until(up, timeout=timeout, what="sidecar to be ready")
