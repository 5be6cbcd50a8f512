"""`infertap-analyzer watch` as a long-running process, and reading its /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO_ROOT, free_port, port_open, wait_until


class Watcher:
    """A `watch` process serving metrics on a free port; stop() kills it if still running."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.args = [*args, "--metrics-listen", f"127.0.0.1:{self.port}"]
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Watcher:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "analyzer", "watch", *self.args],
                cwd=REPO_ROOT, stdout=out, stderr=out, env=self.env,
            )  # fmt: skip
        wait_until(self._up, timeout=60, what=f"watch on port {self.port}")
        return self

    def _up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"watch exited: {self.log.read_text()[-3000:]}")
        return port_open(self.port)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of /metrics by (name, labels)."""
        _, text = self.get("/metrics")
        found = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return found

    def value(self, name: str, **labels: str) -> float | None:
        wanted = set(labels.items())
        for (sample, have), value in self.samples().items():
            if sample == name and wanted <= have:
                return value
        return None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)
