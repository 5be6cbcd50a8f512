"""Server-Sent Events framing, incremental: raw chunks in, the `data` of each event out.

Follows the WHATWG event-stream parsing rules (lines end with CRLF, LF or CR; `data:` lines of
one event are joined with LF; an empty line ends the event; `:` starts a comment; other fields
are ignored), whatever the chunk boundaries: a CR at the end of one chunk and an LF at the start
of the next are one line ending. Work per chunk is linear in the chunk; a line longer than
`max_line` stops the parser (`overflowed`) instead of buffering without bound.
"""

from __future__ import annotations

import re

# One line ending each: CRLF first, so a CR followed by LF is not two.
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class EventFramer:
    """Feed raw chunks; each call returns the `data` of the events completed by that chunk."""

    __slots__ = (
        "_after_cr",
        "_data",
        "_has_data",
        "_pending",
        "_started",
        "max_line",
        "overflowed",
    )

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.overflowed = False
        self._pending = bytearray()  # the current line, not yet ended
        self._data: list[bytes] = []  # `data` lines of the current event
        self._has_data = False
        self._after_cr = False  # the last chunk ended with CR: a leading LF belongs to it
        self._started = False  # the byte-order mark is only looked for at the very start

    def feed(self, chunk: bytes) -> list[bytes]:
        if self.overflowed or not chunk:
            return []
        events: list[bytes] = []
        if not self._after_cr and b"\r" not in chunk:
            # The usual case, LF line endings only: split in C, no per-line regex match.
            lines = chunk.split(b"\n")
            if self._pending:
                lines[0] = bytes(self._pending) + lines[0]
                self._pending.clear()
            self._pending += lines.pop()
            for line in lines:
                self._line(line, events)
            return self._check_overflow(events)
        if self._after_cr:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        start = 0
        for match in _LINE_END.finditer(chunk):
            self._pending += chunk[start : match.start()]
            start = match.end()
            self._line(bytes(self._pending), events)
            self._pending.clear()
        self._after_cr = chunk.endswith(b"\r")
        self._pending += chunk[start:]
        return self._check_overflow(events)

    def _check_overflow(self, events: list[bytes]) -> list[bytes]:
        if len(self._pending) > self.max_line:
            self.overflowed = True
            self._pending.clear()
        return events

    def _line(self, line: bytes, events: list[bytes]) -> None:
        if not self._started:
            self._started = True
            line = line.removeprefix(_BOM)
        if not line:
            if self._has_data:
                events.append(b"\n".join(self._data))
            self._data.clear()
            self._has_data = False
            return
        if line[:1] == b":":
            return  # a comment (keep-alive)
        name, colon, value = line.partition(b":")
        if name != b"data":
            return  # event, id, retry: nothing the assembly needs
        if colon and value[:1] == b" ":
            value = value[1:]
        self._data.append(value)
        self._has_data = True

    def pending_event(self) -> bytes | None:
        """The data of an event the stream ended inside of (no final empty line), if any."""
        data = list(self._data)
        if self._pending and not self.overflowed:
            name, colon, value = bytes(self._pending).partition(b":")
            if name == b"data":
                data.append(value[1:] if colon and value[:1] == b" " else value)
        return b"\n".join(data) if data else None
