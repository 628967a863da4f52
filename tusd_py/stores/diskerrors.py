"""The file store's edge: disk and SQLite errors become typed protocol errors.

A full disk is 507 with a message, not a 500 with a traceback; tus clients retry 5xx, and the
bytes that reached the disk before it filled are kept (the offset says so). Other I/O failures
(EIO, a database locked past its busy timeout) are 503. A missing file is not translated here:
the store turns it into 404 or 410 itself.
"""

from __future__ import annotations

import errno
import sqlite3
from types import TracebackType

from ..protocol.errors import InsufficientStorage, StorageUnavailable

_FULL = {errno.ENOSPC, errno.EDQUOT}


class disk_errors:  # lower case: used like a function, ``with disk_errors("doing what"):``
    """A class, not @contextmanager: it wraps several calls of every request, and a generator
    based context manager costs several times as much to enter and leave."""

    __slots__ = ("doing",)

    def __init__(self, doing: str) -> None:
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, FileNotFoundError):
            return
        doing = self.doing
        if isinstance(exc, OSError):
            if exc.errno in _FULL:
                raise InsufficientStorage(f"the server's disk is full ({doing})") from exc
            raise StorageUnavailable(f"storage error while {doing}: {exc.strerror or exc}") from exc
        if isinstance(exc, sqlite3.Error):
            if "full" in str(exc):  # SQLITE_FULL: "database or disk is full"
                raise InsufficientStorage(f"the server's disk is full ({doing})") from exc
            raise StorageUnavailable(f"upload database error while {doing}: {exc}") from exc
