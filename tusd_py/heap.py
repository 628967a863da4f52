"""The C allocator and request bodies: keep freed memory while uploads stream, give it back after.

aiohttp's parser copies every piece of a body it receives into a new bytes object (up to the
256 KiB a socket read returns), which lives until the store has written it. glibc's malloc, by
default, hands the free space at the top of its heap back to the kernel as soon as it passes a
few hundred KiB, so with a few uploads in flight the heap shrinks and grows all the time and
each new piece is faulted in again page by page. On small uploads those page faults are a large
share of the server's CPU (docs/benchmarks.md has the figures).

So the server lets glibc keep up to ``TUSD_HEAP_KEEP`` bytes of freed heap for the next
pieces, and gives them back (``malloc_trim``) when no upload body has arrived for a few
seconds. Peak memory does not grow: what is kept was in use a moment before. Other C
libraries (musl, macOS) are left alone.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

import structlog

from .ingest import IngestActivity

log = structlog.get_logger("tusd_py.heap")

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Pieces of up to this size come from the heap, not from a mapping of their own (which is
# faulted in and unmapped every time); network reads are at most 256 KiB.
MMAP_THRESHOLD = 4 * 1024 * 1024
IDLE = 5.0  # seconds without an upload body before the kept memory goes back


@cache
def _glibc() -> ctypes.CDLL | None:
    try:  # glibc answers "glibc 2.36"; musl and other systems raise or answer None
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        return None
    if not version or not version.startswith("glibc"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_freed(keep: int) -> bool:
    """Let malloc keep up to ``keep`` bytes of freed heap (this process). False where that
    cannot be set (not glibc, or keep = 0: the allocator's own defaults stay)."""
    libc = _glibc()
    if libc is None or keep <= 0:
        return False
    # Setting either turns off glibc's dynamic thresholds, so both are set.
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, keep))


def trim() -> bool:
    """Give the free memory of every heap back to the kernel (``malloc_trim``). True if some
    went back."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


async def trim_when_idle(ingest: IngestActivity, *, idle: float = IDLE) -> None:
    """Forever: after each burst of uploads, once no body has arrived for ``idle`` seconds,
    trim the kept memory (once per burst, not every ``idle`` seconds)."""
    trimmed_after = ingest.last_end
    while True:
        await ingest.pause(deadline=float("inf"), quiet=idle)
        if ingest.last_end != trimmed_after:
            trimmed_after = ingest.last_end
            if trim():
                log.debug("heap_trimmed")
        await ingest.next_body()
