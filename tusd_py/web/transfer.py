"""HEAD (where is my upload?), PATCH (append bytes at the offset) and DELETE (termination)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ..keys import SERVICE, SETTINGS
from ..protocol import constants as c
from ..protocol.checksum import parse_checksum
from ..protocol.errors import UnsupportedMediaType
from ..protocol.headers import http_date, parse_length, parse_offset
from ..protocol.info import UploadInfo
from .body import AiohttpBody
from .creation import is_offset_stream
from .download import check_bytes
from .identity import owner_of

# Removes what processing made of a finished upload (outputs, data key): tusd_py/accounts.py,
# wired by app.py. DELETE calls it before the upload goes, so a failure leaves both to retry.
MEDIA_REMOVER: web.AppKey[Callable[[str], Awaitable[int]]] = web.AppKey("tusd_py.web.transfer.media_remover")


def upload_headers(info: UploadInfo) -> dict[str, str]:
    headers = {c.H_UPLOAD_OFFSET: str(info.offset), "Cache-Control": "no-store"}
    if info.size is None:
        headers[c.H_UPLOAD_DEFER_LENGTH] = "1"
    else:
        headers[c.H_UPLOAD_LENGTH] = str(info.size)
    # exactly what the client sent (C14); a stored value that cannot be a header (written by hand,
    # past the creation rules) is left out: a CR or LF in it would fail every HEAD
    if info.metadata and info.metadata.isprintable():
        headers[c.H_UPLOAD_METADATA] = info.metadata
    if info.concat and info.concat.isprintable():
        headers[c.H_UPLOAD_CONCAT] = info.concat
    if info.expires_at is not None and not info.is_complete:
        headers[c.H_UPLOAD_EXPIRES] = http_date(info.expires_at)
    return headers


async def head(request: web.Request) -> web.Response:
    info = await request.app[SERVICE].head(request.match_info["upload_id"], owner_of(request))
    await check_bytes(request, info)  # what GET would find: no 200 for bytes that cannot be had
    return web.Response(status=200, headers=upload_headers(info))


async def patch(request: web.Request) -> web.Response:
    service, settings = request.app[SERVICE], request.app[SETTINGS]
    if not is_offset_stream(request):
        raise UnsupportedMediaType(f"PATCH requires Content-Type: {c.OFFSET_CONTENT_TYPE}")
    offset = parse_offset(request.headers.get(c.H_UPLOAD_OFFSET))
    length_header = request.headers.get(c.H_UPLOAD_LENGTH)
    length = parse_length(length_header) if length_header is not None else None
    checksum = parse_checksum(request.headers.get(c.H_UPLOAD_CHECKSUM))
    body = AiohttpBody.from_settings(request, settings)
    info = await service.append(
        request.match_info["upload_id"], offset, body, length=length, checksum=checksum, owner=owner_of(request)
    )
    headers = {c.H_UPLOAD_OFFSET: str(info.offset)}
    if info.expires_at is not None and not info.is_complete:
        headers[c.H_UPLOAD_EXPIRES] = http_date(info.expires_at)
    return web.Response(status=204, headers=headers)


async def terminate(request: web.Request) -> None:
    """The upload of the request's URL goes, with what processing made of it: the termination of
    either protocol (tus here, the draft's DELETE in ``draft/resource.py``)."""
    service, upload_id, owner = request.app[SERVICE], request.match_info["upload_id"], owner_of(request)
    if (remove_media := request.app.get(MEDIA_REMOVER)) is not None:
        info = await service.info(upload_id, owner)  # 404 for another owner's: nothing of it is touched
        if info.is_finished_file:  # only a finished file is ever processed
            await remove_media(upload_id)
    await service.terminate(upload_id, owner)


async def delete(request: web.Request) -> web.Response:
    await terminate(request)
    return web.Response(status=204)
