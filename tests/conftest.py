"""Shared test fixtures: free ports, servers started as subprocesses (a real S3-compatible server,
moto in server mode, among them), file reads seen through Python's audit hook, and the markers
every test gets from where it lives and what it uses (see `pytest_collection_modifyitems`)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Real files in SageMaker's formats (a copy of the reference set; see its README.md).
SHARED_DATA = REPO_ROOT / "tests" / "data" / "sagemaker"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll `condition` until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class ServerProcess:
    port: int
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def server_module(
    module: str,
    *args: str,
    what: str,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    graceful: bool = True,
) -> Iterator[ServerProcess]:
    """Run `python -m module *args` (each "{port}" in args replaced by a free port) from the
    repository root, wait until 127.0.0.1 answers on that port, and stop it afterwards:
    SIGTERM then a wait when `graceful`, else SIGKILL (a test server with nothing to drain)."""
    port = free_port()
    argv = [sys.executable, "-m", module, *(arg.replace("{port}", str(port)) for arg in args)]
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=None if env is None else {**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port) or process.poll() is not None, timeout, what)
        if process.poll() is not None:
            raise AssertionError(f"{what} ({module}) exited with {process.returncode}")
        yield ServerProcess(port, process)
    finally:
        if graceful:
            process.terminate()
        else:
            process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")

    def env(self) -> dict[str, str]:
        """Environment for a child process that should reach this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server on 127.0.0.1, with this process's AWS environment pointing at it."""
    with server_module("moto.server", "-H", "127.0.0.1", "-p", "{port}", what="moto server") as run:
        server = S3Server(f"http://127.0.0.1:{run.port}", run.process)
        saved = {key: os.environ.get(key) for key in server.env()}
        os.environ.update(server.env())
        try:
            yield server
        finally:
            _restore(saved)


def _restore(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the moto server."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"reference data folder {SHARED_DATA} is missing")
    return SHARED_DATA


_READ_RECORDERS: list[Counter[str]] = []


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _READ_RECORDERS:
        return
    path, mode, flags = args
    if not isinstance(path, str | bytes | os.PathLike):
        return
    if isinstance(mode, str):
        reading = "r" in mode and "+" not in mode
    else:
        reading = isinstance(flags, int) and flags & os.O_ACCMODE == os.O_RDONLY
    if reading:
        _READ_RECORDERS[-1][os.fsdecode(path)] += 1


sys.addaudithook(_on_audit)  # audit hooks stay for the process: it records only inside `reads`


@pytest.fixture
def reads() -> Iterator[Counter[str]]:
    """Path -> how many times this process opened it for reading while the test ran (Python's
    audit hook on `open`, which every local read of analyzer.reading.storage goes through)."""
    recorder: Counter[str] = Counter()
    _READ_RECORDERS.append(recorder)
    try:
        yield recorder
    finally:
        _READ_RECORDERS.remove(recorder)


# Markers, given by where a test lives and which fixtures it uses, so none can be forgotten.
# `unit` is every test that needs none of the others: `make unit-fast` runs those.
_MARKER_FIXTURES = {
    "spark": {"spark"},
    "browser": {"browser"},
    "llm": {"litellm_proxy", "llm_upstream", "litellm_sidecar"},
    "e2e": {
        *("s3_server", "upstream", "start_sidecar", "webhook_factory", "history_root"),
        *("prometheus_factory", "prometheus_module_factory"),
    },
}
# A test that runs a whole command (in this process through `main`, or as a subprocess) or
# starts a server itself is e2e too: these names in its code say so.
_E2E_NAMES = frozenset(
    {"main", "analyzer", "run_cli", "measured_run", "run_monitoring", "run_quality"}
    | {"subprocess", "PrometheusServer"}
)
_MARKER_FOLDERS = {
    "spark": ("analyzer/spark/",),
    "e2e": ("deploy/", "examples/"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = REPO_ROOT / "tests"
    for item in items:
        where = item.path.relative_to(tests).as_posix() if item.path.is_relative_to(tests) else ""
        used = set(getattr(item, "fixturenames", ()))
        found = {
            name
            for name, fixtures in _MARKER_FIXTURES.items()
            if used & fixtures or where.startswith(_MARKER_FOLDERS.get(name, ()))
        }
        code = getattr(getattr(item, "function", None), "__code__", None)
        if code is not None and _E2E_NAMES & set(code.co_names):
            found.add("e2e")
        found |= {name for name in _MARKER_FIXTURES if item.get_closest_marker(name)}
        for name in sorted(found) or ["unit"]:
            item.add_marker(name)
