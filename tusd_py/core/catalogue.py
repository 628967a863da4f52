"""The catalogue port: who owns which upload, and what each owner holds.

The core tells it of each upload's life (created, finished, terminated) and asks it for an
owner's usage before admitting a new upload (quotas). It is kept in the SQL database
(``tusd_py/db``); the core only sees this Protocol. The ownership check itself needs no
catalogue: an upload's owner is stored with its info (``UploadInfo.owner``) by every store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..protocol.info import UploadInfo


@dataclass(frozen=True, slots=True)
class Usage:
    bytes_held: int  # declared sizes of the owner's uploads (finished or not)
    uploads_in_flight: int  # the owner's unfinished uploads


@dataclass(frozen=True, slots=True)
class Entry:
    """One upload as its owner's list shows it."""

    upload_id: str
    owner: str
    name: str  # from the metadata's filename (or name), "" if none
    filetype: str
    size: int | None  # None while deferred
    state: str  # UploadState's value
    created_at: float
    updated_at: float


class Catalogue(Protocol):
    async def created(self, info: UploadInfo) -> None:
        """A new upload (``info.owner`` may be empty on an open server)."""

    async def updated(self, info: UploadInfo) -> None:
        """Its length was declared, or it finished (``info.state``, ``info.offset``)."""

    async def terminated(self, upload_id: str) -> None: ...

    async def usage(self, owner: str) -> Usage: ...

    async def page(self, owner: str, *, before: str | None, limit: int) -> tuple[list[Entry], str | None]:
        """The owner's finished, non-partial uploads, newest first: up to ``limit`` entries older than
        the opaque cursor ``before`` (None: from the newest), and the cursor of the next page (None: last).
        A cursor this catalogue did not hand out raises ValueError."""

    async def ids(self, owner: str) -> list[str]:
        """Every upload id of the owner, finished or not (deleting an account walks them)."""


class NoCatalogue:
    """The core's default: nothing recorded, no usage (no quotas)."""

    async def created(self, info: UploadInfo) -> None:
        return None

    async def updated(self, info: UploadInfo) -> None:
        return None

    async def terminated(self, upload_id: str) -> None:
        return None

    async def usage(self, owner: str) -> Usage:
        return Usage(0, 0)

    async def page(self, owner: str, *, before: str | None, limit: int) -> tuple[list[Entry], str | None]:
        return [], None

    async def ids(self, owner: str) -> list[str]:
        return []
