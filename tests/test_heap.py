"""The allocator keeps freed memory while uploads stream and returns it after (heap.py).

The malloc cases run in their own interpreter: mallopt() changes the whole process, and page
fault counts need a process whose heap holds nothing else."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tusd_py import heap
from tusd_py.ingest import IngestActivity

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc's malloc only")

# What a burst of uploads does to the heap: 16 bodies in flight, each piece a fresh bytes
# object of 256 KiB (as aiohttp's parser makes them), all written and freed, again and again.
_BODIES = """
import json, resource, sys
from tusd_py import heap
kept = heap.keep_freed(int(sys.argv[1]))
source = bytearray(256 * 1024)
def burst():
    pieces = [bytes(source) for _ in range(16)]
    del pieces
burst()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    burst()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
held = resident()
trimmed = heap.trim()
print(json.dumps({"kept": kept, "faults": faults, "held": held, "after_trim": resident(), "trimmed": trimmed}))
"""


def _bodies(keep: int) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", _BODIES, str(keep)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, int] = json.loads(out.stdout)
    return result


def test_kept_memory_is_not_faulted_in_again() -> None:
    default, kept = _bodies(0), _bodies(32 * 1024 * 1024)
    assert default["kept"] is False and kept["kept"] is True
    # glibc's defaults give the 4 MiB back after each burst and fault it in again (1024 pages)
    assert default["faults"] > 20 * 1024, default
    assert kept["faults"] < 1024, kept


def test_trim_returns_the_kept_memory() -> None:
    kept = _bodies(32 * 1024 * 1024)
    assert kept["trimmed"] is True
    assert kept["held"] - kept["after_trim"] >= 3 * 1024 * 1024, kept  # the burst's 4 MiB went back


def test_keep_zero_leaves_the_allocator_alone() -> None:
    assert heap.keep_freed(0) is False


async def test_trimmed_once_per_burst_after_the_idle_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(heap, "trim", lambda: calls.append(loop.time()) or True)
    ingest = IngestActivity()
    task = asyncio.create_task(heap.trim_when_idle(ingest, idle=0.1))
    try:
        await asyncio.sleep(0.3)
        assert calls == []  # nothing was received: nothing to give back
        with ingest.receiving():
            await asyncio.sleep(0.2)  # a body in flight: never trimmed meanwhile
            assert calls == []
        ended = loop.time()
        await asyncio.sleep(0.4)
        assert len(calls) == 1 and calls[0] >= ended + 0.1  # once, after the idle time
        with ingest.receiving():
            pass
        await asyncio.sleep(0.3)
        assert len(calls) == 2  # the next burst, trimmed again
    finally:
        task.cancel()
