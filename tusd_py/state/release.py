"""The release-request half of a lock, shared by the in-process and the Redis lock.

A request that wants a held upload asks the holder to let go; the holder's body reader has
registered a callback that stops it at the next chunk, so it saves what it has and leaves.
A callback registered after the request still fires at once: a holder never misses it.
"""

from __future__ import annotations

from collections.abc import Callable


class ReleaseSignal:
    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []
        self._requested = False

    def on_release_request(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
        if self._requested:
            callback()

    @property
    def release_requested(self) -> bool:
        return self._requested

    def request_release(self) -> None:
        if self._requested:
            return
        self._requested = True
        for callback in self._callbacks:
            callback()
