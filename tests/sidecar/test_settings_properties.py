"""Settings parser properties: any text for an option, as a flag or as INFERTAP_<FLAG>, gives
valid Settings or one SettingsError line naming the option; no other exception escapes."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sidecar.common.options import ENV_PREFIX
from sidecar.settings import Settings, SettingsError, parse_settings

SIZES = ("--max-capture-bytes", "--max-file-bytes", "--queue-max-bytes", "--spool-max-bytes")
ADDRESSES = ("--listen", "--admin-listen")
NUMBERS = (
    "--sampling-percentage",
    "--upstream-timeout",
    "--upstream-connect-timeout",
    "--client-header-timeout",
    "--client-body-timeout",
    "--max-connections",
    "--workers",
    "--flush-interval",
    "--shutdown-grace",
)
OPTIONS = (*SIZES, *ADDRESSES, *NUMBERS, "--upstream", "--redact-csv-columns")

# Text shaped like the values these options take, plus anything at all.
_DIGITS = st.text("0123456789", min_size=1, max_size=400)
VALUES = st.one_of(
    st.text(),
    st.text(alphabet="0123456789.:[]-+eE KMGTiBb\t\n_\u0663\u00b2", max_size=30),
    st.builds(lambda n, u: f"{n}{u}", _DIGITS, st.sampled_from(["", "B", "KiB", "MB", "TiB"])),
    st.builds(lambda h, p: f"{h}:{p}", st.text(max_size=10), st.text(max_size=8)),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-0", "0x10", "1_000", "\u0661\u0660"]),
    st.builds(lambda s: f"http://{s}", st.text(max_size=20)),
)


def _env_name(option: str) -> str:
    return ENV_PREFIX + option.removeprefix("--").replace("-", "_").upper()


def _check_valid(found: Settings) -> None:
    for value in (
        found.sampling_percentage,
        found.upstream_timeout,
        found.upstream_connect_timeout,
        found.client_header_timeout,
        found.client_body_timeout,
        found.flush_interval,
        found.shutdown_grace,
    ):
        assert math.isfinite(value) and value >= 0
    assert 0 <= found.sampling_percentage <= 100
    for size in (
        found.max_capture_bytes,
        found.max_file_bytes,
        found.queue_max_bytes,
        found.spool_max_bytes,
    ):
        assert isinstance(size, int) and size >= 0
    assert 0 <= found.listen_port <= 65535 and 0 <= found.admin_port <= 65535
    assert found.max_connections >= 1 and 1 <= found.workers <= 64
    assert found.upstream.startswith(("http://", "https://"))


@settings(max_examples=400, deadline=None)
@example(option="--max-capture-bytes", value="9" * 400, as_env=False)
@example(option="--queue-max-bytes", value="9" * 400 + ".5KiB", as_env=True)
@example(option="--listen", value="0.0.0.0:\u00b2", as_env=False)
@example(option="--redact-csv-columns", value="1,\u00b2", as_env=True)
@example(option="--upstream", value="http://[::1", as_env=False)
@example(option="--sampling-percentage", value="nan", as_env=True)
@example(option="--client-body-timeout", value="inf", as_env=False)
@given(option=st.sampled_from(OPTIONS), value=VALUES, as_env=st.booleans())
def test_any_value_gives_settings_or_a_one_line_error_naming_the_option(
    option: str, value: str, as_env: bool
) -> None:
    if as_env:
        argv: list[str] = []
        environ = {_env_name(option): value}
    else:
        # `--opt=value`: a value starting with '-' is still this option's value.
        argv, environ = [f"{option}={value}"], {}
    try:
        found = parse_settings(argv, environ=environ)
    except SettingsError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert option in message, message
    else:
        _check_valid(found)
