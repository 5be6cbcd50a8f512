"""The on-CPU split of a process by shared object, from Linux perf's cpu-clock samples.

perf samples only while a thread runs on a CPU, so its shares are CPU time, not time waiting for
the CPU on a busy machine (which a stack sampler such as py-spy counts as active). Python 3.11
frames are invisible to perf (the interpreter shows as libpython), so this is the check on the
layers py-spy finds: how much is the kernel (TCP, syscalls), the interpreter, uvloop, aiohttp's C
parser and writer, multidict, libc's allocator.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness import LOAD_CPU

# (what it is, pattern on the shared object's name): first match wins.
OBJECTS: tuple[tuple[str, str], ...] = (
    ("kernel (TCP/IP, syscalls, scheduling)", r"kernel"),
    ("nginx", r"^nginx$"),
    ("interpreter (bytecode, objects, GC)", r"libpython|python3"),
    ("uvloop (event loop, transports)", r"uvloop|^loop\."),
    ("asyncio C (tasks, futures)", r"_asyncio"),
    ("aiohttp C parser", r"_http_parser"),
    ("aiohttp C writer", r"_http_writer"),
    ("aiohttp C helpers", r"_helpers|_websocket"),
    ("multidict", r"multidict"),
    ("yarl", r"yarl|_quoting"),
    ("orjson (capture encoding)", r"orjson"),
    ("libc (malloc, memcpy, syscall stubs)", r"libc\.|libm\."),
)
_LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")


def perf_binary() -> str | None:
    return shutil.which("perf")


@dataclass
class PerfProfile:
    """Self CPU shares (percent) by shared object and by (object, symbol)."""

    objects: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    symbols: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def groups(self) -> list[tuple[str, float]]:
        """Shares by group of shared objects, largest first."""
        grouped: defaultdict[str, float] = defaultdict(float)
        for name, share in self.objects.items():
            grouped[group_of(name)] += share
        return largest(grouped)


def largest(shares: dict[str, float], n: int | None = None) -> list[tuple[str, float]]:
    return sorted(shares.items(), key=lambda item: -item[1])[:n]


def group_of(shared_object: str) -> str:
    for name, pattern in OBJECTS:
        if re.search(pattern, shared_object):
            return name
    return f"other ({shared_object})"


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling `pid` (every thread) at 999 Hz of CPU clock for `seconds`."""
    binary = perf_binary()
    if binary is None:
        raise SystemExit("perf is not installed (Debian: linux-perf)")
    command = [
        *("taskset", "-c", LOAD_CPU, binary, "record", "-e", "cpu-clock", "-F", "999"),
        *("-p", str(pid), "-o", str(out), "--", "sleep", f"{seconds:g}"),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def report(data: Path) -> PerfProfile:
    """`perf report`'s self shares by object and symbol."""
    binary = perf_binary()
    assert binary is not None
    command = [binary, "report", "-i", str(data), "--stdio", "--no-children", "-q"]
    done = subprocess.run(
        [*command, "--sort", "dso,sym"], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"perf report failed: {done.stderr[-2000:]}")
    profile = PerfProfile()
    for line in done.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            share, shared_object, _, symbol = match.groups()
            profile.objects[shared_object] += float(share)
            profile.symbols[f"{symbol} ({shared_object})"] += float(share)
    return profile
