"""What the server reports as it works (``Observer``): the port ``tusd_py/metrics.py`` implements
with prometheus-client. The base class does nothing, so a service built without metrics (tests,
tools) pays one no-op call per event. Calls happen per request or per PATCH, never per chunk."""

from __future__ import annotations

from collections.abc import Callable


class Observer:
    """No-op defaults; every method is called on the event loop and must not block."""

    def request(self, method: str) -> None:
        """A request reached the server's middleware."""

    def error(self, status: int, code: str) -> None:
        """A request was answered with an error (status >= 400, ``code`` the tus error code)."""

    def upload_created(self) -> None: ...

    def upload_finished(self) -> None: ...

    def upload_terminated(self) -> None: ...

    def bytes_received(self, count: int) -> None:
        """``count`` bytes of one PATCH (or POST) body were stored."""

    def body_started(self, declared: int) -> None:
        """A body of ``declared`` bytes (0: chunked) is being received; ``body_ended`` follows."""

    def body_ended(self, declared: int) -> None: ...

    def lock_waited(self, seconds: float) -> None:
        """Time spent acquiring an upload lock (HEAD, PATCH, DELETE)."""

    def watch_connections(self, count: Callable[[], int]) -> None:
        """The listening socket's open connections, read at scrape time."""
