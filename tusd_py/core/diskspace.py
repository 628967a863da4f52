"""The disk reserve: new bytes are refused (507) before a directory's disk is full.

A full disk fails every write on it, the upload database's included, and a process that
cannot even record a state cannot recover; so new bytes stop at ``reserve`` bytes of free
space, and what already landed is kept (the client resumes once space is freed).

Measuring costs a ``statvfs`` in a thread, so a ``SpaceGuard`` measures at most every
``_FRESH`` seconds and, in between, subtracts the bytes it let through from what it measured
last. Only a refusal measures again at once: space freed meanwhile (a sweep, an operator) is
seen by the next request, never hidden behind a stale figure.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import structlog

from ..protocol.errors import InsufficientStorage

log = structlog.get_logger("tusd_py.diskspace")

_FRESH = 0.5  # seconds a measurement is trusted (minus the bytes claimed since)
_UNKNOWN = 2**62  # free space when statvfs fails: not a reason to refuse uploads

FreeSpace = Callable[[str], int]


def statvfs_free(path: str) -> int:
    """Bytes an unprivileged process may still write on ``path``'s filesystem."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class SpaceGuard:
    """Claims bytes against the free space of one directory's filesystem, keeping ``reserve``.

    ``free_space`` is blocking (it runs in a thread) and injectable: tests simulate a nearly
    full disk without filling one. ``reserve`` 0 turns the guard off (no measurement at all).
    """

    def __init__(self, path: str, reserve: int, *, free_space: FreeSpace = statvfs_free) -> None:
        self.path = path
        self.reserve = reserve
        self.free_space = free_space
        self._free = 0
        self._measured_at = -_FRESH  # never measured: the first claim measures
        self._measuring: asyncio.Future[None] | None = None

    async def claim(self, size: int) -> None:
        """Let ``size`` new bytes through, or raise InsufficientStorage (507) if writing them
        would leave less than the reserve free."""
        if not self.reserve:
            return
        if time.monotonic() - self._measured_at > _FRESH or self._free - size < self.reserve:
            await self._measure()
        if self._free - size < self.reserve:
            raise InsufficientStorage(
                f"the server keeps {self.reserve} bytes of disk in reserve and has {max(self._free, 0)} free"
            )
        self._free -= size

    async def _measure(self) -> None:
        """One measurement in a thread; concurrent claims wait for the same one."""
        if self._measuring is None:
            self._measuring = asyncio.ensure_future(self._measure_once())
        await asyncio.shield(self._measuring)

    async def _measure_once(self) -> None:
        # The figures are set before this task ends: a claim that finds it done reads them.
        try:
            free = await asyncio.get_running_loop().run_in_executor(None, self.free_space, self.path)
        except OSError as exc:  # cannot tell: let the bytes through; ENOSPC is still a 507 of its own
            log.warning("disk_space_unknown", path=self.path, error=str(exc))
            free = _UNKNOWN
        finally:
            self._measuring = None
        self._free, self._measured_at = free, time.monotonic()
