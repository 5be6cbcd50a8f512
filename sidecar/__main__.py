"""`infertap-sidecar`: parse flags and INFERTAP_* variables into Settings, then serve.

`infertap-sidecar inject-webhook ...` runs the Kubernetes admission webhook instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from urllib.parse import urlsplit, urlunsplit

from sidecar.settings import Settings, SettingsError, parse_settings

PROG = "infertap-sidecar"
log = logging.getLogger("sidecar")


def public_settings(settings: Settings) -> dict[str, object]:
    """The effective settings for the startup log, without anything secret."""
    values = asdict(settings)
    parts = urlsplit(settings.upstream)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        values["upstream"] = urlunsplit(parts._replace(netloc=f"***@{netloc}"))
    values["destination"] = str(settings.destination)
    values["kms_key_id"] = "set" if settings.kms_key_id else None
    return {key: _plain(value) for key, value in values.items()}


def _plain(value: object) -> object:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (str, int, float, bool, list)) or value is None:
        return value
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "inject-webhook":
        from sidecar.injection import server  # imported lazily: it needs nothing of the proxy

        return int(server.main(args[1:]) or 0)
    try:
        settings = parse_settings(args)
    except SettingsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    from sidecar.common.logs import setup_logging

    setup_logging(settings.log_level)
    log.info("starting", extra={"fields": {"settings": public_settings(settings)}})
    try:
        if settings.workers > 1:
            from sidecar.supervisor import supervise

            return supervise(settings)
        from sidecar.app import run, serve

        run(lambda: serve(settings))
    except OSError as exc:
        # Typically a port in use or a folder that cannot be written: one clear line, exit 1.
        log.error("cannot start", extra={"fields": {"error": str(exc)}})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
