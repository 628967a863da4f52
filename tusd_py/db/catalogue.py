"""``SqlCatalogue``: who owns which upload (``tusd_py.core.catalogue.Catalogue``), in ``uploads``.

One row per upload, written when the core creates it, declares its length or finishes it, and
deleted when it is terminated. The name and type come from the client's metadata (``filename``
or ``name``, ``filetype`` or ``type``), as tus clients send them; they are labels for the
owner's list, never trusted for anything else.

``page`` lists an owner's finished, non-partial uploads newest first, by keyset pagination over
``(created_at, id)`` (the ``(owner, created_at)`` index): the cursor is that pair of the last
entry shown, base64url-encoded JSON, so a page costs the same at any depth and an upload
created meanwhile neither repeats nor skips an entry. A cursor that does not decode raises
``ValueError`` (the port's word for it; ``GET /media`` answers 400).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..core.catalogue import Catalogue, Entry, Usage
from ..protocol.errors import StorageUnavailable
from ..protocol.info import UploadInfo, UploadState
from .engine import Database, unavailable_as
from .tables import uploads

_WHAT = "the upload catalogue"
_FINISHED = [str(UploadState.COMPLETED), str(UploadState.HANDED_OFF)]
MAX_PAGE = 1000


def encode_cursor(created_at: float, upload_id: str) -> str:
    raw = json.dumps([created_at, upload_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, upload_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("the cursor is not one this server handed out") from exc
    if not isinstance(created_at, int | float) or isinstance(created_at, bool) or not isinstance(upload_id, str):
        raise ValueError("the cursor is not one this server handed out")
    return float(created_at), upload_id


def _labels(info: UploadInfo) -> tuple[str, str]:
    meta = info.meta()
    name = meta.text("filename") or meta.text("name") or ""
    filetype = meta.text("filetype") or meta.text("type") or ""
    return name, filetype


def _entry(row: Any) -> Entry:
    return Entry(
        upload_id=row.id,
        owner=row.owner,
        name=row.name,
        filetype=row.filetype,
        size=row.size,
        state=row.state,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlCatalogue:
    def __init__(self, database: Database) -> None:
        self.engine = database.engine
        self._insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert

    def _row(self, info: UploadInfo, now: float) -> dict[str, Any]:
        name, filetype = _labels(info)
        return {
            "id": info.id,
            "owner": info.owner,
            "name": name,
            "filetype": filetype,
            "size": info.size,
            "state": str(info.state),
            "is_partial": info.is_partial,
            "created_at": info.created_at or now,
            "updated_at": now,
        }

    async def created(self, info: UploadInfo) -> None:
        """Idempotent: a retried creation finds its row and leaves it."""
        statement = self._insert(uploads).values(**self._row(info, time.time())).on_conflict_do_nothing()
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                await conn.execute(statement)

    async def updated(self, info: UploadInfo) -> None:
        """An upload created before the catalogue existed gets its row now."""
        now = time.time()
        change = update(uploads).where(uploads.c.id == info.id).values(size=info.size, state=str(info.state))
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                result = await conn.execute(change.values(updated_at=now))
                if result.rowcount == 0:
                    await conn.execute(self._insert(uploads).values(**self._row(info, now)).on_conflict_do_nothing())

    async def terminated(self, upload_id: str) -> None:
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                await conn.execute(delete(uploads).where(uploads.c.id == upload_id))

    async def usage(self, owner: str) -> Usage:
        unfinished = case((uploads.c.state.in_(_FINISHED), 0), else_=1)
        query = select(func.coalesce(func.sum(uploads.c.size), 0), func.coalesce(func.sum(unfinished), 0))
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.connect() as conn:
                held, in_flight = (await conn.execute(query.where(uploads.c.owner == owner))).one()
        return Usage(bytes_held=int(held), uploads_in_flight=int(in_flight))

    async def page(self, owner: str, *, before: str | None, limit: int) -> tuple[list[Entry], str | None]:
        limit = max(1, min(limit, MAX_PAGE))
        listed = and_(uploads.c.owner == owner, uploads.c.state.in_(_FINISHED), uploads.c.is_partial.is_(False))
        query = select(uploads).where(listed)
        if before is not None:
            created_at, upload_id = decode_cursor(before)
            older = or_(
                uploads.c.created_at < created_at,
                and_(uploads.c.created_at == created_at, uploads.c.id < upload_id),
            )
            query = query.where(older)
        query = query.order_by(uploads.c.created_at.desc(), uploads.c.id.desc()).limit(limit + 1)
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        entries = [_entry(row) for row in rows[:limit]]
        more = len(rows) > limit
        return entries, encode_cursor(entries[-1].created_at, entries[-1].upload_id) if more else None

    async def ids(self, owner: str) -> list[str]:
        query = select(uploads.c.id).where(uploads.c.owner == owner).order_by(uploads.c.created_at, uploads.c.id)
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.connect() as conn:
                return [str(upload_id) for (upload_id,) in (await conn.execute(query)).all()]


if TYPE_CHECKING:
    _catalogue: type[Catalogue] = SqlCatalogue
