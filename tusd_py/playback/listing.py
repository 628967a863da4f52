"""``GET /media``: the caller's media, newest first, a page at a time.

The list comes from the catalogue (``UploadService.catalogue``: who owns which upload, kept in
the SQL database), the state of each item from its media record (the ``MEDIA`` port), read
concurrently for the page: at most ``MAX_LIMIT`` reads. The cursor is the catalogue's own opaque
token (base64url); anything else, or one the catalogue did not issue, is 400, as is a limit
outside 1..``MAX_LIMIT`` or a parameter sent twice.

An open server (``TUSD_AUTH=none``) has no owners: it lists the uploads made without one.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from pipeline.contract import MediaRecord, MediaState

from ..core.catalogue import Entry
from ..keys import SERVICE
from ..protocol.errors import BadRequest
from ..web.identity import owner_of
from .keys import MEDIA

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR = 512  # characters; the catalogue's own are far shorter
_CURSOR = re.compile(r"[A-Za-z0-9_\-]+", re.ASCII)  # base64url, as the catalogue hands them out
NOT_OURS = "cursor: not a cursor this server handed out"


def check_cursor(token: str) -> str:
    """A cursor that cannot be one of the catalogue's is refused before the catalogue sees it."""
    if len(token) > MAX_CURSOR or not _CURSOR.fullmatch(token):
        raise BadRequest(NOT_OURS)
    return token


def _single(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"{name} is sent more than once")
    return values[0] if values else None


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit() or len(text) > 4 or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit: a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def item(entry: Entry, record: MediaRecord | None) -> dict[str, Any]:
    """One upload as the list shows it: the processing state where there is one, else queued
    (the catalogue lists finished uploads only, and a finished one waits for a worker)."""
    return {
        "id": entry.upload_id,
        "name": entry.name,
        "filetype": entry.filetype or None,
        "size": entry.size,
        "state": str(record.state) if record is not None else str(MediaState.QUEUED),
        "progress": round(record.progress, 1) if record is not None else 0.0,
        "created_at": entry.created_at,
        "updated_at": max(entry.updated_at, record.updated_at) if record is not None else entry.updated_at,
    }


async def list_media(request: web.Request) -> web.Response:
    limit = parse_limit(_single(request, "limit"))
    token = _single(request, "cursor")
    before = check_cursor(token) if token else None
    catalogue = request.app[SERVICE].catalogue
    try:
        entries, after = await catalogue.page(owner_of(request), before=before, limit=limit)
    except ValueError:  # the catalogue's word for a cursor it cannot read (the SQL one says BadRequest)
        raise BadRequest(NOT_OURS) from None
    media = request.app[MEDIA]
    records = await asyncio.gather(*(media.get(entry.upload_id) for entry in entries))
    body = {
        "items": [item(entry, record) for entry, record in zip(entries, records, strict=True)],
        "next_cursor": after,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})
