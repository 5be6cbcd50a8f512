"""Who gets captured: method and path patterns, then a sampling rate (DESIGN.md section 4).

With an inference id the decision is a stable hash of the id, so a request, its response and a
later ground-truth label carrying the same id are kept or skipped together in every replica.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence
from fnmatch import translate
from hashlib import blake2b

# Hash outputs are 64-bit integers; an id is kept when its hash falls below the threshold.
_HASH_SPACE = 1 << 64
# Paths seen are cached so the glob regex runs once per distinct path, not once per request;
# the cap bounds memory when clients send many distinct paths (ids in paths).
_PATH_CACHE_MAX = 4096


def id_hash(inference_id: str) -> int:
    """A stable number in [0, 2**64) for an inference id: the same id gives the same one in
    every process and version (blake2b, 8 bytes), so replicas agree on which ids are kept."""
    digest = blake2b(inference_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Sampler:
    """Decides per exchange whether it is a capture candidate and whether it is sampled."""

    def __init__(
        self,
        percentage: float,
        methods: Collection[str] = ("POST",),
        paths: Sequence[str] = ("*",),
        rng: random.Random | None = None,
    ) -> None:
        if not 0 <= percentage <= 100:
            raise ValueError(f"sampling percentage must be between 0 and 100, got {percentage}")
        self.percentage = percentage
        self._fraction = percentage / 100.0
        self._threshold = int(self._fraction * _HASH_SPACE)
        self._methods = frozenset(m.upper() for m in methods)
        self._all_methods = "*" in self._methods
        self._all_paths = not paths or any(p == "*" for p in paths)
        self._path_regex = re.compile("|".join(f"(?:{translate(p)})" for p in paths))
        self._path_cache: dict[str, bool] = {}
        self._random = (rng or random.Random()).random

    def is_candidate(self, method: str, path: str) -> bool:
        """True when the method and path match the capture patterns (before sampling)."""
        if not self._all_methods and method not in self._methods:
            return False
        if self._all_paths:
            return True
        cached = self._path_cache.get(path)
        if cached is None:
            if len(self._path_cache) >= _PATH_CACHE_MAX:
                self._path_cache.clear()
            cached = self._path_cache[path] = self._path_regex.match(path) is not None
        return cached

    def keep(self, inference_id: str | None) -> bool:
        """Whether to capture: deterministic in the inference id when there is one."""
        if self._fraction >= 1.0:
            return True
        if self._fraction <= 0.0:
            return False
        if inference_id is not None:
            return id_hash(inference_id) < self._threshold
        return self._random() < self._fraction
