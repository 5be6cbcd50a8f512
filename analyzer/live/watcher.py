"""The live loop (placeholder until the follower loop lands)."""

from __future__ import annotations

from analyzer.errors import ConfigError
from analyzer.live.settings import LiveSettings
from analyzer.scheduling.config import EndpointConfig


def watch(
    endpoints: list[EndpointConfig], settings: LiveSettings, listen: tuple[str, int] | None
) -> int:
    raise ConfigError("live mode is not available yet; use --replay")
