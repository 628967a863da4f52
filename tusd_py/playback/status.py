"""Processing status of an upload: ``GET /media/{id}`` (JSON) and ``GET /media/{id}/events`` (SSE).

Both answer only the upload's owner: another user's upload is 404, as an unknown one
(``UploadService.info`` checks the owner the auth middleware found). ``uploaded_by`` is that
owner; the client's metadata (``uploadedBy``...) is read only on an open server (``TUSD_AUTH=none``),
where no owner exists and nothing is trusted anyway.
The records come through the ``MediaStatusSource`` port (the pipeline's media records, wired
by ``app.py`` under the ``MEDIA`` AppKey), so playback imports only ``pipeline.contract``.
A ready asset's JSON carries signed delivery URLs (``playback_url``, ``poster_url``,
``original_url``, ``thumbnail_urls``; see ``delivery.py``).
Events are pushed as the job writes its record: no polling. A stream ends after ``ready``,
``stored`` or ``failed``; until then a comment line every ``HEARTBEAT`` seconds keeps proxies
from closing it.
It also ends after ``TUSD_SSE_MAX_LIFETIME`` seconds whatever the state, so that a stream on an
upload that never finishes does not hold its subscription forever; the browser's EventSource
reconnects by itself. One client address holds at most ``TUSD_SSE_PER_CLIENT`` streams at once
(the ``ADMISSION`` AppKey); beyond them 429 with Retry-After, before the stream starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from pipeline.contract import MediaRecord, MediaState

from ..keys import ADMISSION, SERVICE, SETTINGS
from ..protocol.errors import TusError
from ..protocol.info import UploadInfo
from ..web.identity import owner_of
from ..web.middlewares import decorate
from .delivery import playback_links
from .keys import MEDIA, SIGNER

HEARTBEAT = 15.0  # seconds between keep-alive comments on an idle event stream
FINAL_EVENTS = frozenset(str(state) for state in MediaState if state.terminal)  # ready, stored, failed
# A retrying job says why and which try comes next; a processing one which try runs.
_WITH_REASON = (MediaState.FAILED, MediaState.STORED, MediaState.RETRYING)
_WITH_TRY = (MediaState.PROCESSING, MediaState.RETRYING)
UPLOADER_KEYS = ("uploadedBy", "uploaded_by", "user", "username")  # read on an open server only


def _uploader(info: UploadInfo, open_server: bool) -> str | None:
    if info.owner or not open_server:
        return info.owner or None
    meta = info.meta()
    return next((value for key in UPLOADER_KEYS if (value := meta.text(key))), None)


def status(
    info: UploadInfo, record: MediaRecord | None, links: dict[str, Any] | None = None, *, open_server: bool = False
) -> dict[str, Any]:
    """The JSON of GET /media/{id}. Output paths are storage keys (under data_dir or the bucket,
    encrypted); ``links`` are the signed delivery URLs of a ready asset (``playback_url``...);
    ``open_server``: no accounts, so the uploader named in the metadata is shown."""
    if record is not None:
        state = str(record.state)
    else:  # nothing written yet: "uploading" until every byte is there, then waiting for a worker
        state = str(MediaState.QUEUED) if info.is_finished_file else "uploading"
    body: dict[str, Any] = {
        "id": info.id,
        "state": state,
        "progress": round(record.progress, 1) if record else 0.0,
        "reason": record.reason if record and record.state in _WITH_REASON else None,
        "try": record.tries or None if record and record.state in _WITH_TRY else None,
        "kind": None,
        "duration": None,
        "master_playlist": None,
        "renditions": [],
        "poster": None,
        "thumbnails": [],
        "uploaded_by": _uploader(info, open_server),
        "upload_offset": info.offset,
        "upload_length": info.size,
        "updated_at": record.updated_at if record else None,
    }
    if record is not None and record.state is MediaState.READY:
        key = record.asset_key
        body.update(
            kind=record.kind or None,
            duration=record.duration,
            master_playlist=key(record.master_playlist) or None,
            renditions=[{**r.model_dump(), "playlist": key(r.playlist)} for r in record.renditions],
            poster=key(record.poster) or None,
            thumbnails=[key(t) for t in record.thumbnails],
            **(links or {}),
        )
    elif record is not None and record.state is MediaState.STORED:  # no media: the upload itself is the asset
        body.update(kind=record.kind or None)
    return body


def _links(request: web.Request, info: UploadInfo, record: MediaRecord | None) -> dict[str, Any] | None:
    if record is None or record.state is not MediaState.READY or SIGNER not in request.app:
        return None
    return playback_links(request, record, audience=info.owner)  # bound to the owner and the asset


def _status(request: web.Request, info: UploadInfo, record: MediaRecord | None) -> dict[str, Any]:
    open_server = request.app[SETTINGS].auth.auth == "none"
    return status(info, record, _links(request, info, record), open_server=open_server)


async def get_status(request: web.Request) -> web.Response:
    upload_id = request.match_info["upload_id"]
    # 404 for unknown uploads and other users' uploads, 410 for removed ones
    info = await request.app[SERVICE].info(upload_id, owner_of(request))
    record = await request.app[MEDIA].get(upload_id)
    return web.json_response(_status(request, info, record), headers={"Cache-Control": "no-store"})


def _event(body: dict[str, Any], version: int) -> bytes:
    name = body["state"] if body["state"] in FINAL_EVENTS else "progress"
    return f"id: {version}\nevent: {name}\ndata: {json.dumps(body)}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    upload_id = request.match_info["upload_id"]
    media = request.app[MEDIA]
    with request.app[ADMISSION].stream(request):  # 429 beyond the client's streams, before any work
        # unknown ids and other users' uploads fail here, before the stream starts
        info = await request.app[SERVICE].info(upload_id, owner_of(request))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        decorate(request, response)
        deadline = asyncio.get_running_loop().time() + request.app[SETTINGS].server.sse_max_lifetime
        try:
            async with media.watch(upload_id) as changes:  # subscribe before reading: no change slips between
                await response.prepare(request)
                record = await media.get(upload_id)
                version = record.version if record else 0
                await response.write(_event(_status(request, info, record), version))
                await _follow(request, response, info, record, aiter(changes), deadline)
            await response.write_eof()
        except ConnectionResetError:  # the client went away: nothing left to tell it
            pass
    return response


async def _follow(
    request: web.Request,
    response: web.StreamResponse,
    info: UploadInfo,
    record: MediaRecord | None,
    changes: AsyncIterator[MediaRecord],
    deadline: float,
) -> None:
    """Send each newer record until a final one or the ``deadline`` (loop time); keep-alive
    comments while nothing happens."""
    loop = asyncio.get_running_loop()
    version = record.version if record else 0
    pending: asyncio.Future[MediaRecord] | None = None
    try:
        while record is None or not record.state.terminal:
            if (left := deadline - loop.time()) <= 0:
                await response.write(b": lifetime reached, reconnect\n\n")
                return
            pending = pending or asyncio.ensure_future(anext(changes))
            done, _ = await asyncio.wait({pending}, timeout=min(HEARTBEAT, left))
            if not done:  # never cancel the read here: that would close the subscription
                if left > HEARTBEAT:
                    await response.write(b": keep-alive\n\n")
                continue
            changed, pending = pending.result(), None
            if changed.version <= version:
                continue  # already sent (read before the change arrived)
            record, version = changed, changed.version
            with contextlib.suppress(TusError):  # removed meanwhile: keep the last known info
                info = await request.app[SERVICE].info(info.id)
            await response.write(_event(_status(request, info, record), version))
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
