"""What the pipeline needs from the application that runs it. The application implements these
Protocols and hands them in (``context.Deps``); the pipeline never imports the application.

* ``UploadSource``: a finished upload to read, and to drop once its encrypted original is kept.
* ``JobQueue``: the embedded queue the pipeline puts jobs back on (retries, restarts).
* ``MediaEvents``: told of each final record (webhooks); ``NoMediaEvents`` by default.
* ``AssetStore`` (``assets.py``) and ``MediaRecords`` (``records.py``) live with their
  implementations, which belong to the pipeline.

Errors cross these ports as ``errors.py`` types only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from .contract import MediaRecord


@dataclass(frozen=True)
class SourceInfo:
    """A finished upload as the pipeline sees it."""

    upload_id: str
    size: int
    finished: bool  # complete, and a file of its own (not a partial of a concatenation)
    filename: str = ""  # the client's name for it: its suffix names the scratch copy
    local_path: str = ""  # a local file that holds the upload's bytes, when the store has one
    storage: str = ""  # where it lives ("file", "s3", ...), for logs


class UploadSource(Protocol):
    async def get(self, upload_id: str) -> SourceInfo:
        """Fresh info of the upload; SourceMissing if it is missing or gone."""

    def read(self, upload_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of the upload, in chunks."""

    async def drop_source(self, upload_id: str) -> bool:
        """Remove the upload's plaintext bytes, keeping what answers for it (offset, length).
        False if the upload is gone already. Idempotent."""

    def handed_off(self) -> AsyncIterator[str]:
        """Ids of the finished uploads that were handed to processing."""


class JobQueue(Protocol):
    async def submit(self, upload_id: str) -> None:
        """Queue the upload's job once (a second submit from this process is ignored)."""

    async def put(self, upload_id: str) -> None:
        """Queue the upload's job again (a retry)."""


class MediaEvents(Protocol):
    async def settled(self, record: MediaRecord) -> None:
        """The job ended on a final ``record`` (ready, stored or failed). Called again for the same
        record by a job that runs after a crash, so an event is reported at least once;
        ``StorageUnavailable`` if it cannot be recorded now (the job then runs again)."""


class NoMediaEvents:
    """The default: nobody listens."""

    async def settled(self, record: MediaRecord) -> None:
        return None
