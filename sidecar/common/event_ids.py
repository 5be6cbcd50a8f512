"""Fresh random UUID4 strings for record eventIds, made many at a time."""

from __future__ import annotations

import os

# Ids are made this many at a time: one system call and a few C-level passes per batch.
_IDS_PER_BATCH = 256
_UUID = 36  # "8-4-4-4-12"
# A random byte -> a hex digit, uniformly (256 is a multiple of 16).
_HEX_DIGIT = b"0123456789abcdef" * 16
# A random hex digit -> the variant digit (bits 10, then two random bits): 8, 9, a or b.
_VARIANT_DIGIT = bytes.maketrans(b"0123456789abcdef", b"89ab" * 4)


def uuid4_batch(count: int) -> str:
    """`count` random UUID4s (RFC 9562 version 4) back to back, 36 characters each."""
    text = bytearray(os.urandom(_UUID * count).translate(_HEX_DIGIT))
    for position in (8, 13, 18, 23):
        text[position::_UUID] = b"-" * count
    text[14::_UUID] = b"4" * count  # the version
    text[19::_UUID] = text[19::_UUID].translate(_VARIANT_DIGIT)
    return text.decode("ascii")


class EventIds:
    """Random UUID4 strings, cheaper than `str(uuid.uuid4())`; one thread at a time."""

    def __init__(self) -> None:
        self._pool = ""
        self._offset = 0

    def next(self) -> str:
        offset = self._offset
        if offset >= len(self._pool):
            self._pool = uuid4_batch(_IDS_PER_BATCH)
            offset = 0
        self._offset = offset + _UUID
        return self._pool[offset : offset + _UUID]
