"""Profile a run's capture files in one process or several, and merge the partial profiles."""

from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from analyzer.counts import RunCounts
from analyzer.decoding.ingest import (
    PartialProfile,
    TimeWindow,
    profile_capture_files,
    profile_files_here,
)
from analyzer.decoding.payloads import DecodeOptions
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reading.storage import ObjectInfo


@dataclass(slots=True)
class Profiled:
    """The merged profile of every file, with what reading and decoding them found."""

    profile: DatasetProfile
    output_width: int | None
    counts: RunCounts = field(default_factory=RunCounts)
    unreadable: list[str] = field(default_factory=list)  # "url: reason"


def profile_files(
    files: list[ObjectInfo],
    options: DecodeOptions,
    workers: int = 1,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> Profiled:
    """Profile `files` in up to `workers` processes (each gets a similar number of bytes)."""
    workers = min(workers, len(files))
    if workers <= 1:
        here, part = profile_files_here([f.url for f in files], options, concurrency, window)
        return merge([part], here)
    options = with_output_width(files[0].url, options)
    shares = split_by_size(files, workers)
    per_worker = max(1, concurrency // workers)
    # spawn, not fork: the parent may hold event-loop threads (aiobotocore) that fork would copy.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(profile_capture_files, share, options, per_worker, window)
            for share in shares
        ]
        parts = [future.result() for future in futures]
    return merge(parts)


def with_output_width(first_url: str, options: DecodeOptions) -> DecodeOptions:
    """Fix the output width from the first file, so every process lines columns up alike."""
    if options.output_columns is not None:
        return options
    _, probe = profile_files_here([first_url], options, 1)
    return dataclasses.replace(options, output_columns=probe.output_width)


def split_by_size(files: list[ObjectInfo], workers: int) -> list[list[str]]:
    """Split files into `workers` lists of similar total size (largest first)."""
    shares: list[list[str]] = [[] for _ in range(workers)]
    sizes = [0] * workers
    for info in sorted(files, key=lambda f: f.size, reverse=True):
        index = sizes.index(min(sizes))
        shares[index].append(info.url)
        sizes[index] += info.size
    return [s for s in shares if s]


def merge(parts: list[PartialProfile], profile: DatasetProfile | None = None) -> Profiled:
    """Merge the processes' profiles (or take `profile`, made here) and sum their counts."""
    if profile is None:
        profile = DatasetProfile.from_bytes(parts[0].profile)
    merged = Profiled(profile=profile, output_width=None)
    for index, part in enumerate(parts):
        if index:
            profile.absorb(DatasetProfile.from_bytes(part.profile))
        merged.counts.add(RunCounts.from_json(part.counts))
        merged.unreadable.extend(part.unreadable)
        if merged.output_width is None:
            merged.output_width = part.output_width
    return merged
