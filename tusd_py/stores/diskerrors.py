"""The file store's edge: disk and SQLite errors become typed protocol errors.

A full disk is 507 with a message, not a 500 with a traceback; tus clients retry 5xx, and the
bytes that reached the disk before it filled are kept (the offset says so). Other I/O failures
(EIO, a database locked past its busy timeout) are 503. A missing file is not translated here:
the store turns it into 404 or 410 itself.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from ..protocol.errors import InsufficientStorage, StorageUnavailable

_FULL = {errno.ENOSPC, errno.EDQUOT}


@contextmanager
def disk_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in _FULL:
            raise InsufficientStorage(f"the server's disk is full ({doing})") from exc
        raise StorageUnavailable(f"storage error while {doing}: {exc.strerror or exc}") from exc
    except sqlite3.Error as exc:
        if "full" in str(exc):  # SQLITE_FULL: "database or disk is full"
            raise InsufficientStorage(f"the server's disk is full ({doing})") from exc
        raise StorageUnavailable(f"upload database error while {doing}: {exc}") from exc
