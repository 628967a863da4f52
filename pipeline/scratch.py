"""A job's scratch directory, and the removal of those whose job died with its process.

A job fetches its source and writes its renditions under ``TUSD_WORK_DIR`` (the system temp by
default) and removes the directory when it ends. A worker or server killed mid-job (``kill -9``,
the OOM killer) left it behind, with whatever the transcode had written: gigabytes for a long
video, one more directory per crash. So the job holds an exclusive ``flock`` on its directory
while it lives (the kernel drops it with the process), and each worker and embedded server
removes, when it starts, every scratch directory that nobody holds, however young: a supervisor
that restarts a killed worker within a second gets its disk back at once.

A directory is made under a hidden name (``.tusd-new-...``), locked, and only then renamed to
its ``tusd-media-...`` name (the lock is on the inode, so it stays): a visible directory that
nobody holds is a dead one, never one between its ``mkdtemp`` and its ``flock``. Hidden ones
(a process killed in that instant) are removed once a minute old.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

import structlog

log = structlog.get_logger("pipeline.scratch")

PREFIX = "tusd-media-"
NEW_PREFIX = ".tusd-new-"  # made, not yet locked (module docstring)
# A hidden directory younger than this may belong to a job starting right now.
NEW_MIN_AGE = 60.0


class Scratch:
    """Made on first use: a file that is no media, read in place, costs no directory (on ext4
    each inode made and freed also slows the next file creation)."""

    def __init__(self, parent: str | None, upload_id: str) -> None:
        self.parent, self.prefix = parent, f"{PREFIX}{upload_id}-"
        self._path: Path | None = None
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            new = Path(tempfile.mkdtemp(prefix=NEW_PREFIX + self.prefix, dir=self.parent))
            self._fd = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # held until remove(), or until this process dies
            path = new.with_name(new.name[len(NEW_PREFIX) :])
            new.rename(path)
            self._path = path
        return self._path

    def remove(self) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _abandoned(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # gone meanwhile, or not ours to read
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live job holds it
    finally:
        os.close(fd)
    return True


def remove_abandoned(parent: str | None) -> int:
    """Remove the scratch directories under ``parent`` (default: the system temp) that no live
    job holds; the number removed. Blocking (rmtree): call it from a thread."""
    root, now, removed = Path(parent or tempfile.gettempdir()), time.time(), 0
    for path in root.glob(f"{PREFIX}*"):
        if path.is_dir() and _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    for path in root.glob(f"{NEW_PREFIX}{PREFIX}*"):
        with contextlib.suppress(OSError):
            if path.is_dir() and now - path.stat().st_mtime >= NEW_MIN_AGE and _abandoned(path):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    if removed:
        log.info("scratch_removed", directories=removed, parent=str(root))
    return removed
