"""A real Prometheus server (the `/usr/bin/prometheus` binary) for end-to-end tests.

It runs on 127.0.0.1 on a free port with its own temporary storage and a generated configuration:
static scrape targets scraped every second and optional rule files evaluated every second.

API
---
``PrometheusServer(workdir, targets=(), rule_files=(), *, scrape_interval="1s",
evaluation_interval="1s", jobs=(), binary=PROMETHEUS_BINARY)``
    ``targets``: ``"127.0.0.1:PORT"`` strings, scraped under job ``"infertap"`` at ``/metrics``.
    ``jobs``: extra ``ScrapeJob(name, targets, metrics_path="/metrics", labels={})`` entries, or
    raw ``scrape_configs`` dicts, for anything more (several jobs, target labels).
    ``rule_files``: paths of Prometheus rule files (recording and alerting rules).
    ``start(timeout=30)`` starts the process and waits for ``/-/ready``; ``stop()`` ends it by
    PID (SIGTERM, then SIGKILL after 10 s). Also a context manager (``with PrometheusServer(...)``).
    ``url``, ``port``, ``pid``, ``log_path`` (the server's own log, quoted in failures).
    ``query(expr)`` -> the ``result`` list of ``/api/v1/query`` (for vectors: dicts with
    ``"metric"`` (labels) and ``"value"`` ([timestamp, "string number"])); raises
    ``PrometheusQueryError`` when Prometheus rejects the expression.
    ``values(expr)`` -> ``{frozenset(labels.items()): float}`` for a vector result.
    ``wait_for(expr, predicate=bool, timeout=20)`` polls ``query(expr)`` until
    ``predicate(results)`` is truthy and returns those results, else raises ``AssertionError``
    naming the expression and the last results.
    ``targets()`` -> ``activeTargets`` of ``/api/v1/targets`` (each has ``"health"``: ``"up"``,
    ``"down"`` or ``"unknown"``, ``"lastError"``, ``"scrapeUrl"``);
    ``wait_for_targets_up(timeout=20)`` waits until every active target is ``up``.
    ``rules()`` -> rule groups of ``/api/v1/rules``; ``alerts()`` -> ``/api/v1/alerts`` alerts
    (each with ``"labels"``, ``"state"``: ``"pending"``/``"firing"``).
    ``api(path, **params)`` -> the ``data`` of any other ``GET /api/v1/<path>``.

Timing: Prometheus applies new scrape targets after about 5 s (its discovery manager's fixed
update interval), so the first scraped sample appears 5-6 s after ``start()``; give ``wait_for``
timeouts of 20 s or more, and start Prometheus once per test rather than per assertion.

Pytest: the ``prometheus_factory`` fixture returns ``start(targets=(), rule_files=(), **kw)``,
which starts a server in a fresh temporary folder and stops every server it started at teardown.
Use it from any test folder by importing it into the test module or a ``conftest.py``::

    from tests.prometheus_server import prometheus_factory  # noqa: F401

    def test_alert(prometheus_factory):
        prom = prometheus_factory(targets=[f"127.0.0.1:{port}"], rule_files=[rules_path])
        prom.wait_for('ALERTS{alertname="X",alertstate="firing"}', timeout=30)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PROMETHEUS_BINARY = "/usr/bin/prometheus"
DEFAULT_JOB = "infertap"


class PrometheusQueryError(RuntimeError):
    """Prometheus answered an API call with an error (for example a bad PromQL expression)."""


@dataclass(frozen=True)
class ScrapeJob:
    """One static scrape job."""

    name: str
    targets: Sequence[str]
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_config(self, interval: str) -> dict[str, Any]:
        static: dict[str, Any] = {"targets": list(self.targets)}
        if self.labels:
            static["labels"] = dict(self.labels)
        return {
            "job_name": self.name,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "metrics_path": self.metrics_path,
            "static_configs": [static],
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """A Prometheus process on 127.0.0.1; see the module docstring for the API."""

    def __init__(
        self,
        workdir: Path,
        targets: Sequence[str] = (),
        rule_files: Sequence[Path | str] = (),
        *,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        jobs: Sequence[ScrapeJob | Mapping[str, Any]] = (),
        binary: str = PROMETHEUS_BINARY,
    ) -> None:
        self.workdir = Path(workdir)
        self.binary = binary
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "prometheus.log"
        self.config_path = self.workdir / "prometheus.yml"
        scrape_configs: list[dict[str, Any]] = []
        if targets:
            scrape_configs.append(ScrapeJob(DEFAULT_JOB, targets).to_config(scrape_interval))
        for job in jobs:
            if isinstance(job, ScrapeJob):
                scrape_configs.append(job.to_config(scrape_interval))
            else:
                scrape_configs.append(dict(job))
        self.config: dict[str, Any] = {
            "global": {
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "evaluation_interval": evaluation_interval,
            },
            "rule_files": [str(Path(path).resolve()) for path in rule_files],
            "scrape_configs": scrape_configs,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until `/-/ready` answers 200."""
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(
                f"{self.binary} is missing; install Debian's prometheus package (make system-deps)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        # JSON is YAML, and needs no escaping care.
        self.config_path.write_text(json.dumps(self.config, indent=2))
        # A free port can be taken between picking and binding it: try a few.
        for _attempt in range(3):
            self.port = _free_port()
            if self._launch(timeout):
                return
        raise RuntimeError(f"prometheus did not start; its log:\n{self._log_tail()}")

    def _launch(self, timeout: float) -> bool:
        storage = self.workdir / f"data-{self.port}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={storage}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=log,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {timeout}s; its log:\n{self._log_tail()}")

    def stop(self) -> None:
        """SIGTERM the process by PID, SIGKILL it if it has not exited after 10 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, path: str, **params: str) -> Any:
        """The `data` of `GET /api/v1/<path>?<params>`."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusQueryError(
                f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def query(self, expr: str) -> list[Any]:
        """The results of an instant query (`/api/v1/query`)."""
        data = self.api("query", query=expr)
        result: list[Any] = data["result"]
        return result

    def values(self, expr: str) -> dict[frozenset[tuple[str, str]], float]:
        """An instant vector as `{frozenset(labels.items()): value}`."""
        return {
            frozenset(item["metric"].items()): float(item["value"][1]) for item in self.query(expr)
        }

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[Any]], object] = bool,
        timeout: float = 20.0,
    ) -> list[Any]:
        """Poll `query(expr)` until `predicate(results)` holds; return those results."""
        deadline = time.monotonic() + timeout
        results: list[Any] = []
        while True:
            results = self.query(expr)
            if predicate(results):
                return results
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {expr!r}; last results: {results}; "
                    f"targets: {self._target_summary()}"
                )
            time.sleep(0.1)

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return active

    def wait_for_targets_up(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if targets and all(t["health"] == "up" for t in targets):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"targets not up after {timeout}s: {self._target_summary()}")
            time.sleep(0.1)

    def _target_summary(self) -> list[tuple[str, str, str]]:
        return [(t["scrapeUrl"], t["health"], t["lastError"]) for t in self.targets()]

    def rules(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.api("rules")["groups"]
        return groups

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts


def prometheus_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrometheusServer]]:
    """`start(targets=(), rule_files=(), **kw)` -> a running server; all stop when this ends."""
    started: list[PrometheusServer] = []

    def start(
        targets: Sequence[str] = (), rule_files: Sequence[Path | str] = (), **kwargs: Any
    ) -> PrometheusServer:
        server = PrometheusServer(
            tmp_path_factory.mktemp("prometheus"), targets, rule_files, **kwargs
        )
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def prometheus_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrometheusServer]]:
    """Servers started by one test, stopped at its teardown."""
    yield from prometheus_servers(tmp_path_factory)
