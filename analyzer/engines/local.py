"""Profile a run's capture files in one process or several, and merge the partial profiles."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines.profiler import CaptureProfiler
from analyzer.profiling.dataset import DatasetProfile
from analyzer.reading.captures import iter_files
from analyzer.reading.storage import ObjectInfo
from analyzer.reading.window import TimeWindow
from analyzer.results.counts import RunCounts


@dataclass(slots=True)
class PartialProfile:
    """What one process made of its share of the files (picklable, profile as bytes)."""

    profile: bytes
    counts: dict[str, int]  # RunCounts.to_json(), with files_read, bytes and unreadable_files
    output_width: int | None
    unreadable: list[str] = field(default_factory=list)  # "url: reason"


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
    """Profile `files` in up to `workers` processes (each gets a similar number of bytes).

    With several processes the first file is profiled here first: it fixes the output width,
    so every process lines columns up alike, and it is read once.
    """
    workers = min(workers, len(files))
    if workers <= 1:
        here, part = profile_files_here([f.url for f in files], options, concurrency, window)
        return merge([part], here)
    here, first = profile_files_here([files[0].url], options, 1, window)
    if options.output_columns is None and first.output_width is not None:
        options = replace(options, output_columns=first.output_width)
    shares = split_by_size(files[1:], workers)
    per_worker = max(1, concurrency // workers)
    # spawn, not fork: the parent may hold event-loop threads (aiobotocore) that fork would copy.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(shares), mp_context=context) as pool:
        futures = [
            pool.submit(profile_capture_files, share, options, per_worker, window)
            for share in shares
        ]
        parts = [first, *(future.result() for future in futures)]
    return merge(parts, here)


def profile_capture_files(
    urls: Sequence[str],
    options: DecodeOptions,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> PartialProfile:
    """Read and profile capture files; the unit of work of one process (profile as bytes)."""
    profile, part = profile_files_here(urls, options, concurrency, window)
    part.profile = profile.to_bytes()
    return part


def profile_files_here(
    urls: Sequence[str],
    options: DecodeOptions,
    concurrency: int = 16,
    window: TimeWindow | None = None,
) -> tuple[DatasetProfile, PartialProfile]:
    """Read and profile capture files in this process; the PartialProfile holds no bytes.

    Counts files_read, bytes and unreadable_files (the reading stage's counts).
    """
    profiler = CaptureProfiler(options, window=window)
    counts = profiler.counts
    unreadable: list[str] = []
    for item in iter_files(urls, concurrency):
        if item.data is None:
            counts.unreadable_files += 1
            unreadable.append(f"{item.url}: {item.error}")
            continue
        counts.files_read += 1
        counts.bytes += len(item.data)
        profiler.add_file(item.data)
    profile = profiler.finish()
    return profile, PartialProfile(
        profile=b"",
        counts=counts.to_json(),
        output_width=profiler.decoder.output_width,
        unreadable=unreadable,
    )


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
    """Merge the processes' profiles (`profile`, when given, is parts[0]'s, made here) and sum
    their counts."""
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
