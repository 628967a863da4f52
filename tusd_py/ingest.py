"""Upload bodies in flight, so that the embedded default's processing waits for a pause.

On one small machine the server, its clients and the transcode pool share the cores. A job
started in the middle of a burst of uploads slows every upload of the burst (the server waits
for a core, and its loop hands the GIL to the pool's threads; docs/benchmarks.md has the
figures), while the same job a moment later costs nobody anything. So the in-process queue
starts a job when no upload body has been received for a short quiet time, and never later
than TUSD_PROCESS_DEFER_MAX seconds after its upload finished: under a steady stream of
uploads, processing is shifted by at most that much, never starved.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

QUIET = 0.1  # seconds without an upload body that count as a pause


class IngestActivity:
    def __init__(self) -> None:
        self.active = 0
        self.last_end = float("-inf")  # loop time the last body ended
        self._changed = asyncio.Event()  # set, and replaced, at each change: no waiter misses one
        self._waiting = 0  # nobody waits during a burst's requests: no event is made for them

    def receiving(self) -> _Receiving:
        """Around one request whose body is an upload's bytes (PATCH, POST with a body)."""
        return _Receiving(self)

    def _begin(self) -> None:
        self.active += 1
        self._change()

    def _end(self) -> None:
        self.active -= 1
        self.last_end = asyncio.get_running_loop().time()
        self._change()

    def _change(self) -> None:
        if self._waiting:
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def _next_change(self, timeout: float | None) -> None:
        self._waiting += 1
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=timeout)
        except TimeoutError:
            pass
        finally:
            self._waiting -= 1

    async def next_body(self) -> None:
        """Wait until an upload body is in flight (or has already come and gone)."""
        seen = self.last_end
        while not self.active and self.last_end == seen:
            await self._next_change(None)

    async def pause(self, *, deadline: float, quiet: float = QUIET) -> bool:
        """Wait until no body has been in flight for ``quiet`` seconds, or until ``deadline``
        (loop time). True for a pause, False when the deadline came first."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self.active == 0 and now >= self.last_end + quiet:
                return True
            if now >= deadline:
                return False
            wake = deadline if self.active else min(deadline, self.last_end + quiet)
            await self._next_change(None if wake == float("inf") else max(wake - now, 0.0))


class _Receiving:
    """A class, not @contextmanager: it wraps every PATCH and POST."""

    __slots__ = ("activity",)

    def __init__(self, activity: IngestActivity) -> None:
        self.activity = activity

    def __enter__(self) -> None:
        self.activity._begin()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.activity._end()
