"""Child processes for the demo and the benchmarks: start, wait until ready, stop by PID.

Every child runs in its own session, so a Ctrl-C reaches only the parent, which then stops each
child it started (SIGTERM, then SIGKILL after a deadline) and nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parent.parent


class ChildError(RuntimeError):
    """A child that exited early or never became ready; the message says where its log is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int:
        """Signal this PID, wait up to `timeout`, then SIGKILL; return the exit code."""
        if self.running():
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=10)

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Poll `url` until it answers 200; fail early when the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ChildError(
                    f"{self.name} exited with code {self.process.returncode} before it was ready; "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise ChildError(
            f"{self.name} did not answer {url} within {timeout:g}s; log {self.log_path}"
        )


@dataclass
class Children:
    """The processes this script started; `stop_all` (also on exit of the `with`) stops each."""

    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cpus: str | None = None,
    ) -> Child:
        """Start `argv` (pinned to `cpus`, e.g. "0", with taskset) with stdout+stderr to a log."""
        command = [*(["taskset", "-c", cpus] if cpus else []), *argv]
        full_env = {**os.environ, **(env or {})}
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path or os.devnull, "wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def stop_all(self, timeout: float = 15.0) -> None:
        for child in reversed(self.children):
            child.stop(timeout)

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop_all()


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so `finally` blocks stop the children."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
