"""Fixtures for the deploy/ tests: real Prometheus servers (tests/prometheus_server.py), real
injection webhook processes (tests/deploy/k8s.py) and the sidecar tests' model server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.k8s import webhook_factory  # noqa: F401
from tests.prometheus_server import PrometheusServer, prometheus_factory  # noqa: F401
from tests.sidecar.conftest import upstream  # noqa: F401


@pytest.fixture(scope="module")
def prometheus_module_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrometheusServer]]:
    """Like `prometheus_factory`, for servers shared by the tests of one module."""
    started: list[PrometheusServer] = []

    def start(
        targets: tuple[str, ...] = (), rule_files: tuple[Path, ...] = (), **kwargs: Any
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
