"""Every sidecar option, as a flag and as `INFERTAP_<FLAG>`, validated once into frozen Settings."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlparse

from sidecar.common import options
from sidecar.common.layout import Destination, DestinationError, parse_destination
from sidecar.common.options import LOG_LEVELS
from sidecar.common.record import DEFAULT_CSV_TYPES, DEFAULT_JSON_TYPES
from sidecar.errors import SidecarError

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$")


class SettingsError(SidecarError, ValueError):
    """A bad option value; the message names the option and what it accepts."""


@dataclass(frozen=True, slots=True)
class Settings:
    upstream: str
    listen_host: str
    listen_port: int
    admin_host: str
    admin_port: int
    destination: Destination
    endpoint_name: str
    variant_name: str
    sampling_percentage: float
    capture_input: bool
    capture_output: bool
    capture_methods: frozenset[str]
    capture_paths: tuple[str, ...]
    spool_dir: Path
    flush_interval: float
    max_file_bytes: int
    max_capture_bytes: int
    queue_max_bytes: int
    capture_inflight_bytes: int
    spool_max_bytes: int
    inference_id_header: str
    csv_content_types: tuple[str, ...]
    json_content_types: tuple[str, ...]
    redact_json_fields: tuple[str, ...]
    redact_csv_columns: tuple[int, ...]
    kms_key_id: str | None
    upstream_health_path: str
    upstream_connect_timeout: float
    upstream_timeout: float
    client_header_timeout: float
    client_body_timeout: float
    max_connections: int
    shutdown_grace: float
    upload_max_backoff: float
    upload_timeout: float
    workers: int
    log_level: str
    # Token streams (DESIGN.md section 10); defaults keep older callers of Settings working.
    gen_ai_models: tuple[str, ...] = ()


def parse_size(text: str, option: str) -> int:
    return options.parse_size(text, option, SettingsError)


def _host_port(text: str, option: str) -> tuple[str, int]:
    return options.host_port(text, option, SettingsError)


def _number(value: object, option: str, low: float, high: float | None = None) -> float:
    return options.number(value, option, low, high, error=SettingsError)


def apply_env(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    options.apply_env(parser, environ, SettingsError)


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


class _Parser(argparse.ArgumentParser):
    """Reports bad flags as SettingsError, so every start-up error is one line naming the option."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError(message)


def _add_network_options(net: argparse._ArgumentGroup) -> None:
    net.add_argument("--upstream", help="model server base URL", default="http://127.0.0.1:8080")
    net.add_argument("--listen", help="traffic address HOST:PORT", default="0.0.0.0:9000")
    net.add_argument(
        "--admin-listen", help="/metrics, /healthz, /readyz HOST:PORT", default="0.0.0.0:9090"
    )
    net.add_argument("--upstream-health-path", help="path /readyz checks", default="/ping")
    net.add_argument("--upstream-connect-timeout", type=float, default=5.0, help="seconds")
    net.add_argument(
        "--upstream-timeout",
        type=float,
        default=60.0,
        help="seconds the upstream may stay silent: before its response, or between two chunks "
        "of a streamed response (answered 504 before the response starts)",
    )
    net.add_argument(
        "--client-header-timeout",
        type=float,
        default=10.0,
        help="seconds a client may take to send a request's headers, from opening the "
        "connection or from the first byte of a later request; then the connection is closed",
    )
    net.add_argument(
        "--client-body-timeout",
        type=float,
        default=60.0,
        help="seconds a client may pause while sending a streamed request body; a body of up to "
        "1 MiB with a Content-Length must arrive whole within it (answered 408)",
    )
    net.add_argument(
        "--max-connections",
        type=int,
        default=4096,
        help="client connections served at once, per process; further ones are closed at once",
    )
    net.add_argument("--workers", type=int, default=1, help="processes sharing --listen")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="infertap-sidecar",
        usage="%(prog)s [options]\n       %(prog)s inject-webhook [webhook options]",
        description=(
            "Reverse proxy in front of a model server: forwards every request untouched and "
            "captures a sample of request/response pairs as SageMaker data-capture records, "
            "delivered in hourly partitions to S3 or a local folder. Every flag can also be set "
            "as an environment variable INFERTAP_<FLAG>, e.g. INFERTAP_SAMPLING_PERCENTAGE=5."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    options.add_version(parser, "infertap-sidecar")
    _add_network_options(parser.add_argument_group("network"))
    _add_capture_options(parser.add_argument_group("capture"))
    _add_delivery_options(parser.add_argument_group("delivery"))
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    _add_gen_ai_options(parser)
    return parser


def _add_capture_options(cap: argparse._ArgumentGroup) -> None:
    cap.add_argument("--endpoint-name", default="default", help="first folder below the prefix")
    cap.add_argument("--variant-name", default="AllTraffic", help="second folder")
    cap.add_argument(
        "--sampling-percentage", type=float, default=20.0, help="share captured, 0-100"
    )
    cap.add_argument("--capture-mode", default="input,output", help="input, output or both")
    cap.add_argument("--capture-methods", default="POST", help="comma-separated HTTP methods")
    cap.add_argument(
        "--capture-paths",
        default="*",
        help="comma-separated path globs, e.g. /invocations,/v2/* ('*' also matches '/')",
    )
    cap.add_argument(
        "--inference-id-header", default="X-Inference-Id", help="header carrying an inference id"
    )
    cap.add_argument("--max-capture-bytes", default="1MiB", help="larger bodies are not captured")
    cap.add_argument("--csv-content-types", default=",".join(DEFAULT_CSV_TYPES))
    cap.add_argument("--json-content-types", default=",".join(DEFAULT_JSON_TYPES))
    cap.add_argument(
        "--redact-json-fields", default="", help="dotted JSON paths blanked before writing"
    )
    cap.add_argument("--redact-csv-columns", default="", help="0-based CSV column indexes blanked")


def _add_delivery_options(out: argparse._ArgumentGroup) -> None:
    out.add_argument(
        "--destination",
        default="./capture",
        help="s3://bucket/prefix, file:///abs/path or a folder",
    )
    out.add_argument("--spool-dir", default="./spool", help="local folder for unsent files")
    out.add_argument("--flush-interval", type=float, default=60.0, help="file age limit, seconds")
    out.add_argument("--max-file-bytes", default="8MiB", help="file size limit")
    out.add_argument("--queue-max-bytes", default="64MiB", help="in-memory queue limit")
    out.add_argument(
        "--capture-inflight-bytes",
        default="32MiB",
        help="memory for capture copies of exchanges in flight (streamed bodies), all together",
    )
    out.add_argument("--spool-max-bytes", default="1GiB", help="spool disk cap")
    out.add_argument("--kms-key-id", default=None, help="SSE-KMS key for S3 objects")
    out.add_argument("--upload-max-backoff", type=float, default=30.0, help="retry cap, seconds")
    out.add_argument(
        "--upload-timeout", type=float, default=120.0, help="seconds one upload attempt may take"
    )
    out.add_argument(
        "--shutdown-grace", type=float, default=25.0, help="seconds to drain on SIGTERM"
    )


def _add_gen_ai_options(parser: argparse.ArgumentParser) -> None:
    gen_ai = parser.add_argument_group("generative traffic (token streams)")
    gen_ai.add_argument(
        "--gen-ai-models",
        default="",
        help="comma-separated model names kept as the `model` label of the GenAI metrics; "
        "empty: the first 10 seen (every other model is labelled `other`)",
    )


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Flags, then `INFERTAP_*` variables, then defaults; raise SettingsError on a bad value."""
    parser = build_parser()
    apply_env(parser, os.environ if environ is None else environ)
    args = parser.parse_args(argv)
    return validate(vars(args))


def _name(value: str, option: str) -> str:
    if not _NAME.match(value):
        raise SettingsError(
            f"{option} must be 1-63 letters, digits, '.', '_' or '-', got {value!r}"
        )
    return value


def _upstream(value: str) -> str:
    upstream = value.rstrip("/")
    try:
        parsed = urlparse(upstream)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"--upstream must be an http(s) URL, got {upstream!r}")
    try:
        port = parsed.port
    except ValueError:  # e.g. :99999999 or :-1, which the HTTP client would reject at start-up
        port = 0
    if port == 0:
        raise SettingsError(f"--upstream port must be between 1 and 65535, got {upstream!r}")
    return upstream


def _capture_modes(text: str) -> set[str]:
    modes = {m.strip().lower() for m in text.split(",") if m.strip()}
    if modes == {"both"}:
        return {"input", "output"}
    if not modes or not modes <= {"input", "output"}:
        raise SettingsError(f"--capture-mode must be input, output or input,output, got {text!r}")
    return modes


def _column_indexes(text: str) -> tuple[int, ...]:
    for item in _csv_list(text):
        if not item.isascii() or not item.isdigit():
            raise SettingsError(f"--redact-csv-columns must be column indexes, got {item!r}")
    return tuple(int(item) for item in _csv_list(text))


def _addresses(a: Mapping[str, object]) -> tuple[tuple[str, int], tuple[str, int]]:
    """--listen and --admin-listen, which must not share a port."""
    listen = _host_port(str(a["listen"]), "--listen")
    admin = _host_port(str(a["admin_listen"]), "--admin-listen")
    if listen[1] == admin[1] and listen[1] != 0:
        raise SettingsError(f"--admin-listen must use another port than --listen ({listen[1]})")
    return listen, admin


def _size(a: Mapping[str, object], key: str) -> int:
    """The size option `key` (`queue_max_bytes` for --queue-max-bytes) in bytes."""
    return parse_size(str(a[key]), "--" + key.replace("_", "-"))


def validate(a: Mapping[str, object]) -> Settings:
    upstream = _upstream(str(a["upstream"]))
    modes = _capture_modes(str(a["capture_mode"]))
    try:
        destination = parse_destination(str(a["destination"]))
    except DestinationError as exc:
        raise SettingsError(f"--destination: {exc}") from None
    listen, admin = _addresses(a)
    header = str(a["inference_id_header"]).strip()
    if not header:
        raise SettingsError("--inference-id-header must not be empty")
    health = str(a["upstream_health_path"])
    if not health.startswith("/"):
        raise SettingsError(f"--upstream-health-path must start with '/', got {health!r}")
    max_file = parse_size(str(a["max_file_bytes"]), "--max-file-bytes")
    if max_file < 1024:
        raise SettingsError(f"--max-file-bytes must be at least 1KiB, got {a['max_file_bytes']}")
    return Settings(
        upstream=upstream,
        listen_host=listen[0],
        listen_port=listen[1],
        admin_host=admin[0],
        admin_port=admin[1],
        destination=destination,
        endpoint_name=_name(str(a["endpoint_name"]), "--endpoint-name"),
        variant_name=_name(str(a["variant_name"]), "--variant-name"),
        sampling_percentage=_number(a["sampling_percentage"], "--sampling-percentage", 0, 100),
        capture_input="input" in modes,
        capture_output="output" in modes,
        capture_methods=frozenset(m.upper() for m in _csv_list(str(a["capture_methods"]))),
        capture_paths=_csv_list(str(a["capture_paths"])) or ("*",),
        spool_dir=Path(str(a["spool_dir"])).resolve(),
        flush_interval=_number(a["flush_interval"], "--flush-interval", 0.05),
        max_file_bytes=max_file,
        max_capture_bytes=parse_size(str(a["max_capture_bytes"]), "--max-capture-bytes"),
        queue_max_bytes=parse_size(str(a["queue_max_bytes"]), "--queue-max-bytes"),
        capture_inflight_bytes=_size(a, "capture_inflight_bytes"),
        spool_max_bytes=parse_size(str(a["spool_max_bytes"]), "--spool-max-bytes"),
        inference_id_header=header,
        csv_content_types=tuple(t.lower() for t in _csv_list(str(a["csv_content_types"]))),
        json_content_types=tuple(t.lower() for t in _csv_list(str(a["json_content_types"]))),
        redact_json_fields=_csv_list(str(a["redact_json_fields"])),
        redact_csv_columns=_column_indexes(str(a["redact_csv_columns"])),
        kms_key_id=str(a["kms_key_id"]) if a.get("kms_key_id") else None,
        upstream_health_path=health,
        upstream_connect_timeout=_number(
            a["upstream_connect_timeout"], "--upstream-connect-timeout", 0.001
        ),
        upstream_timeout=_number(a["upstream_timeout"], "--upstream-timeout", 0.001),
        client_header_timeout=_number(a["client_header_timeout"], "--client-header-timeout", 0.001),
        client_body_timeout=_number(a["client_body_timeout"], "--client-body-timeout", 0.001),
        max_connections=int(_number(a["max_connections"], "--max-connections", 1, 1_000_000)),
        shutdown_grace=_number(a["shutdown_grace"], "--shutdown-grace", 0),
        upload_max_backoff=_number(a["upload_max_backoff"], "--upload-max-backoff", 0.01),
        upload_timeout=_number(a["upload_timeout"], "--upload-timeout", 0.01),
        workers=int(_number(a["workers"], "--workers", 1, 64)),
        log_level=str(a["log_level"]),
        gen_ai_models=_csv_list(str(a.get("gen_ai_models") or "")),
    )
