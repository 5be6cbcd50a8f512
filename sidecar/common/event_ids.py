"""Fresh random UUID4s for record eventIds, as JSON strings, made many at a time."""

from __future__ import annotations

import os
import random

# Ids are made this many at a time: a few C-level passes per batch.
_IDS_PER_BATCH = 1024
_QUOTED_UUID = 38  # `"8-4-4-4-12"`: 36 characters and the quotes
# Where each of an id's 32 hex digits goes in its JSON string `"8-4-4-4-12"`.
_DIGIT_AT = [i + 1 for i in range(8)] + [i + 2 for i in range(8, 12)]
_DIGIT_AT += [i + 3 for i in range(12, 16)] + [i + 4 for i in range(16, 20)]
_DIGIT_AT += [i + 5 for i in range(20, 32)]
# A random hex digit -> the variant digit (bits 10, then two random bits): 8, 9, a or b.
_VARIANT_DIGIT = bytes.maketrans(b"0123456789abcdef", b"89ab" * 4)
_TEMPLATE = b'"00000000-0000-4000-0000-000000000000"'


def uuid4_batch(count: int, source: random.Random) -> bytes:
    """`count` random UUID4s (RFC 9562 version 4) as JSON strings back to back, in ASCII."""
    size = _QUOTED_UUID
    digits = source.randbytes(16 * count).hex().encode("ascii")  # 32 random hex digits an id
    text = bytearray(_TEMPLATE * count)
    for digit, position in enumerate(_DIGIT_AT):
        if digit != 12:  # the version digit stays "4"
            text[position::size] = digits[digit::32]
    text[20::size] = text[20::size].translate(_VARIANT_DIGIT)
    return bytes(text)


class EventIds:
    """Random UUID4s as JSON strings (`b'"…"'`), cheaper than `uuid.uuid4()`; one thread at a
    time."""

    def __init__(self) -> None:
        # Seeded when the first id is asked for: an encoder given its event ids never pays.
        self._source: random.Random | None = None
        self._pool = b""
        self._offset = 0

    def next(self) -> bytes:
        offset = self._offset
        if offset >= len(self._pool):
            if self._source is None:
                # Ids must be unique, not secret: a generator seeded from the OS (per process, so
                # forked workers never share a stream) costs far less than os.urandom per id.
                self._source = random.Random(os.urandom(32))
            self._pool = uuid4_batch(_IDS_PER_BATCH, self._source)
            offset = 0
        self._offset = offset + _QUOTED_UUID
        return self._pool[offset : offset + _QUOTED_UUID]
