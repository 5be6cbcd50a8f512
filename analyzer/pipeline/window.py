"""The window's capture files, listed, read, decoded and profiled in chunks a stop can cut short.

Chunks are bounded by bytes and by files (scaled by --workers), so a stop (--max-runtime,
SIGTERM) takes effect after at most one chunk; after the first chunk the output width it found
is fixed for the others, so every chunk lines up columns alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from analyzer.decoding.payloads import DecodeOptions
from analyzer.engines.choice import capture_engine
from analyzer.engines.local import Profiled
from analyzer.errors import RunFailed
from analyzer.job import MonitoringJob
from analyzer.pipeline.stopping import StopToken
from analyzer.reading import storage
from analyzer.reading.captures import CaptureListing, list_window
from analyzer.reading.storage import ObjectInfo
from analyzer.reading.window import TimeWindow
from analyzer.reporting.execution import ExecutionResult, window_text

CHUNK_BYTES = 128 * 1024 * 1024  # per worker
CHUNK_FILES = 256  # per worker

log = logging.getLogger("infertap.analyzer.run")


def profile_window(
    job: MonitoringJob, options: DecodeOptions, result: ExecutionResult, stop: StopToken
) -> Profiled:
    """Profile the window's capture files into `result.counts`; RunFailed if there are no rows."""
    listing = _list(job)
    counts = result.counts
    window = window_text(job.start, job.end)
    where = storage.join(job.captures, job.endpoint_name, job.variant_name) + "/"
    if not listing.prefixes:
        raise RunFailed(
            f"the window {window} holds no hour start; capture folders are hourly, "
            "so use whole hours such as 08:00-09:00"
        )
    if not listing.files:
        raise RunFailed(f"no capture files under {where} for {window}")
    counts.files = len(listing.files)
    counts.ignored_files = len(listing.ignored)
    profiled = _profile_chunks(job, options, listing.files, stop)
    counts.add(profiled.counts)
    result.warnings.extend(
        f"unreadable capture file {problem}" for problem in profiled.unreadable[:20]
    )
    require_rows(job, result)
    return profiled


def require_rows(job: MonitoringJob, result: ExecutionResult) -> None:
    """RunFailed, naming what was found instead, when the window gave no feature rows."""
    counts = result.counts
    window = window_text(job.start, job.end)
    where = storage.join(job.captures, job.endpoint_name, job.variant_name) + "/"
    if counts.rows == 0:
        result.warnings.extend(counts.warnings())
        raise RunFailed(
            f"no feature rows in {counts.files} capture files under {where} for {window} "
            f"({counts.records} records, {counts.malformed_lines} malformed lines, "
            f"{counts.decode_errors} decode errors, {counts.error_responses} error responses, "
            f"{counts.unreadable_files} unreadable files)"
        )


def _profile_chunks(
    job: MonitoringJob, options: DecodeOptions, files: list[ObjectInfo], stop: StopToken
) -> Profiled:
    """Profile `files` chunk by chunk, checking `stop` before each; merge the chunks."""
    merged: Profiled | None = None
    done = 0
    window = TimeWindow.of(job.start, job.end)
    profile, workers = capture_engine(job.engine, job.spark_master, job.workers)
    log.info("profiling capture files", extra={"files": len(files), "workers": workers})
    for chunk in chunks(files, workers):
        stop.check(f"with {done} of {len(files)} capture files profiled")
        part = profile(chunk, options, workers, job.read_concurrency, window)
        done += len(chunk)
        log.debug("capture files profiled", extra={"files": done, "of": len(files)})
        if merged is None:
            merged = part
            width = part.output_width if options.output_columns is None else None
            if width is not None:  # every other option, --model too, holds as given
                options = replace(options, output_columns=width)
            continue
        merged.profile.absorb(part.profile)
        merged.counts.add(part.counts)
        merged.unreadable.extend(part.unreadable)
        merged.output_width = merged.output_width or part.output_width
    assert merged is not None  # `files` is not empty
    return merged


def chunks(files: list[ObjectInfo], workers: int) -> Iterator[list[ObjectInfo]]:
    """Consecutive runs of files of at most CHUNK_BYTES and CHUNK_FILES per worker (>= 1 file)."""
    limit_bytes, limit_files = CHUNK_BYTES * workers, CHUNK_FILES * workers
    chunk: list[ObjectInfo] = []
    size = 0
    for info in files:
        if chunk and (size + info.size > limit_bytes or len(chunk) >= limit_files):
            yield chunk
            chunk, size = [], 0
        chunk.append(info)
        size += info.size
    if chunk:
        yield chunk


def _list(job: MonitoringJob) -> CaptureListing:
    return list_window(
        job.captures,
        job.endpoint_name,
        job.variant_name,
        job.start,
        job.end,
        job.read_concurrency,
    )


__all__ = ["chunks", "profile_window", "require_rows"]
