"""The byte heads of raw_heads.py say what hop_by_hop.py's multidicts say, byte for byte."""

from __future__ import annotations

import pytest
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.proxy.hop_by_hop import forwarded_headers
from sidecar.proxy.raw_heads import NamesInConnection, RawHeaders, answer_head, request_lines
from sidecar.proxy.upstream_pool import header_lines

REQUESTS: list[RawHeaders] = [
    [(b"Host", b"public.example:443"), (b"Content-Type", b"text/csv"), (b"Content-Length", b"3")],
    [
        (b"hOsT", b"h"),
        (b"X-Forwarded-For", b"203.0.113.9"),
        (b"X-Custom", b"one"),
        (b"x-forwarded-for", b"198.51.100.1"),
        (b"X-Custom", b"two"),
        (b"Keep-Alive", b"timeout=5"),
        (b"TE", b"trailers"),
        (b"Proxy-Authorization", b"Basic cHJveHk6c2VjcmV0"),
        (b"Proxy-Anything", b"x"),
        (b"X-Forwarded-Proto", b"https"),
        (b"X-Forwarded-Host", b"given"),
        (b"X-MiXeD", b"Keep  Spacing \xe2\x9c\x93 \xff"),
    ],
    [(b"X-Forwarded-For", b""), (b"Host", b""), (b"Transfer-Encoding", b"chunked")],
    [],
]


def _received(raw: RawHeaders) -> CIMultiDictProxy[str]:
    # As aiohttp's parser decodes them.
    pairs = [
        (n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape")) for n, v in raw
    ]
    return CIMultiDictProxy(CIMultiDict(pairs))


@pytest.mark.parametrize("raw", REQUESTS)
@pytest.mark.parametrize("drop_length", [True, False])
def test_request_lines_are_the_multidict_paths_bytes(raw: RawHeaders, drop_length: bool) -> None:
    expected = header_lines(
        forwarded_headers(_received(raw), "127.0.0.1", "http"), drop_length=drop_length
    )
    assert request_lines(raw, "127.0.0.1", "http", drop_length) == expected


def test_a_head_naming_headers_in_connection_is_left_to_the_multidict_path() -> None:
    raw = [(b"Connection", b"keep-alive, X-Hop"), (b"X-Hop", b"v")]
    with pytest.raises(NamesInConnection):
        request_lines(raw, "127.0.0.1", "http", True)
    with pytest.raises(NamesInConnection):
        answer_head(200, "OK", raw, b"", True, "date")


def test_the_answer_head_keeps_end_to_end_headers_and_adds_web_responses_defaults() -> None:
    raw = [
        (b"X-MiXeD-Case", b"Value With  Spaces"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    head = answer_head(201, "Created", raw, b"body", False, "Mon, 07 Dec 2026 03:00:00 GMT")
    assert head == (
        b"HTTP/1.1 201 Created\r\n"
        b"X-MiXeD-Case: Value With  Spaces\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
        b"Content-Length: 4\r\nContent-Type: application/octet-stream\r\n"
        b"Date: Mon, 07 Dec 2026 03:00:00 GMT\r\n"
        b"Server: " + SERVER_SOFTWARE.encode() + b"\r\nConnection: close\r\n\r\n"
    )


def test_the_answer_head_keeps_the_upstreams_own_length_type_date_and_server() -> None:
    raw = [
        (b"content-length", b"0"),
        (b"Content-Type", b"text/csv"),
        (b"Date", b"d"),
        (b"Server", b"model"),
    ]
    assert answer_head(200, "", raw, b"", True, "now") == (
        b"HTTP/1.1 200 \r\ncontent-length: 0\r\nContent-Type: text/csv\r\nDate: d\r\n"
        b"Server: model\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("reason", "raw"),
    [
        ("OK", [(b"X-Bad", b"a\x00b")]),
        ("OK", [(b"X-Bad", b"a\x7f")]),
        ("OK", [(b"X\x01", b"v")]),
        ("O\rK", []),
    ],
)
def test_the_answer_head_refuses_what_aiohttps_writer_refuses(reason: str, raw: RawHeaders) -> None:
    with pytest.raises(ValueError):
        answer_head(200, reason, raw, b"", True, "now")
