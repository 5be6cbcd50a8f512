"""Fixtures for the deploy/ tests: real Prometheus servers (tests/prometheus_server.py), real
injection webhook processes (tests/deploy/k8s.py) and the sidecar tests' model server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.deploy.k8s import webhook_factory  # noqa: F401
from tests.prometheus_server import (  # noqa: F401
    PrometheusServer,
    prometheus_factory,
    prometheus_servers,
)
from tests.sidecar.conftest import upstream  # noqa: F401


@pytest.fixture(scope="module")
def prometheus_module_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrometheusServer]]:
    """Like `prometheus_factory`, for servers shared by the tests of one module."""
    yield from prometheus_servers(tmp_path_factory)
