"""Session fixtures for token-stream tests: the OpenAI-compatible fixture upstream and LiteLLM.

`llm_upstream`: tests/sidecar/llm_upstream.py in a subprocess. `litellm_proxy`: LiteLLM's proxy
server (the `llm` extra) on 127.0.0.1 with `mock_response` models and the delayed custom
provider of tests/sidecar/litellm_provider.py, started once per session (it takes seconds).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port, server_module, wait_until
from tests.sidecar.conftest import http_get

MASTER_KEY = "sk-infertap-test"
LITELLM_CONFIG = f"""\
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/mock-gpt
      mock_response: "Hello from a mocked model."
  - model_name: delayed-fast
    litellm_params:
      model: delayed/fast
  - model_name: delayed-pause
    litellm_params:
      model: delayed/pause
litellm_settings:
  custom_provider_map:
    - provider: delayed
      custom_handler: tests.sidecar.litellm_provider.delayed
general_settings:
  master_key: {MASTER_KEY}
"""


@dataclass
class LlmServer:
    port: int
    process: subprocess.Popen[bytes]
    provider_log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def provider_lines(self) -> list[str]:
        if self.provider_log is None or not self.provider_log.exists():
            return []
        return self.provider_log.read_text(encoding="utf-8").splitlines()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def llm_upstream() -> Iterator[LlmServer]:
    with server_module(
        "tests.sidecar.llm_upstream", "--port", "{port}", what="OpenAI fixture upstream",
        graceful=False,
    ) as run:  # fmt: skip
        yield LlmServer(run.port, run.process)


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    base = tmp_path_factory.mktemp("litellm")
    config = base / "config.yaml"
    config.write_text(LITELLM_CONFIG, encoding="utf-8")
    port = free_port()
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(base),
        # Offline: the model cost map ships with the package instead of being downloaded.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LLM_PROVIDER_LOG": str(base / "provider.log"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    log = open(base / "litellm.log", "wb")  # noqa: SIM115 - closed below
    litellm = Path(sys.executable).parent / "litellm"
    argv = [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LlmServer(port, process, base / "provider.log")

    def alive() -> bool:
        if process.poll() is not None:
            text = (base / "litellm.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"LiteLLM exited with {process.returncode}:\n{text}")
        try:
            return http_get(server.url + "/health/liveliness", timeout=2)[0] == 200
        except OSError:
            return False

    try:
        wait_until(alive, timeout=120, what="LiteLLM proxy server")
        yield server
    finally:
        _stop(process)
        log.close()
