"""The upload resource of the resumable-upload draft: HEAD (offset), PATCH (append), DELETE.

Each handler is the tus operation of the same name in ``UploadService`` (the same lock, expiry
and ownership checks) with the draft's headers around it; the interop version's row
(``versions.py``) says which headers, media type and status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..core.service import UploadService
from ..keys import SERVICE, SETTINGS
from ..protocol.info import UploadInfo
from ..web.body import AiohttpBody
from ..web.download import check_bytes
from ..web.identity import owner_of
from ..web.transfer import terminate
from . import headers as h
from .fields import parse_offset
from .problems import completed, inconsistent_length, worded
from .versions import H_UPLOAD_OFFSET, InteropVersion

CREATED = 201  # a request that completes the upload: what the creating POST answers, in every draft


class EmptyBody:
    """No content: the append that records the length of an upload whose completing request
    had no ``Content-Length`` (chunked), once that request's content has all arrived."""

    declared_length: int | None = 0
    limit: int | None = None
    stopped = False
    error: str | None = None

    def stop(self) -> None:
        """Nothing to stop: there is no content to read."""

    async def has_data(self) -> bool:
        return False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        return
        yield  # an async generator that yields nothing


async def complete_at_end(service: UploadService, version: InteropVersion, info: UploadInfo, owner: str) -> UploadInfo:
    """The request that said "complete" was received in full: the upload ends at its offset."""
    if info.is_complete:
        return info
    if info.size is not None:  # the content fell short of the recorded length
        raise inconsistent_length(version, f"the upload is complete at {info.offset} bytes, not {info.size}")
    return await service.append(info.id, info.offset, EmptyBody(), length=info.offset, owner=owner)


def _append_length(
    version: InteropVersion, info: UploadInfo, offset: int, declared: int | None, sent: int | None, complete: bool
) -> int | None:
    """The length this append records, if the upload has none yet; every indication the request
    and the upload give must agree (the drafts' inconsistent length)."""
    end = offset + sent if complete and sent is not None else None
    for told, what in ((declared, "Upload-Length"), (end, "the completing content's end")):
        if told is not None and info.size is not None and told != info.size:
            raise inconsistent_length(version, f"{what} ({told}) differs from the upload's length {info.size}")
    if declared is not None and end is not None and declared != end:
        raise inconsistent_length(version, f"Upload-Length {declared} differs from the content's end {end}")
    if declared is not None and sent is not None and offset + sent > declared:
        raise inconsistent_length(version, f"the content ends at {offset + sent}, past Upload-Length {declared}")
    if info.size is not None:
        return None
    return declared if declared is not None else end


async def head(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    version = h.version_of(request)
    h.refuse(request, version.refused_on_head, "an offset retrieval (HEAD)")
    info = await service.head(request.match_info["upload_id"], owner=owner_of(request))
    await check_bytes(request, info)  # as the tus HEAD: what GET would find
    return web.Response(status=204, headers={**h.state(service, version, info), "Cache-Control": "no-store"})


def check(request: web.Request, version: InteropVersion) -> tuple[bool, int]:
    """What the headers of an append say (whether it completes the upload, its offset), or the
    400/415 they earn: also run before 100 Continue."""
    h.check_media_type(request, version)
    complete = h.completes(request, version, required=version.append_needs_complete)
    return complete, parse_offset(request.headers.get(H_UPLOAD_OFFSET))


async def patch(request: web.Request) -> web.Response:
    service, settings = request.app[SERVICE], request.app[SETTINGS]
    version = h.version_of(request)
    complete, offset = check(request, version)
    declared, sent = h.declared_length(request), h.content_length(request)
    upload_id, owner = request.match_info["upload_id"], owner_of(request)
    body = AiohttpBody.from_settings(request, settings)
    with worded(version, provided_offset=offset):
        # Lock-free: a complete upload never changes again. The offset is the service's to
        # check, under the lock, after any request still writing has been stopped.
        info = await service.info(upload_id, owner=owner)
        if info.is_complete:
            with_content = sent != 0 and await body.has_data()
            if not (complete and not with_content and offset == info.offset):
                raise completed(version, with_content=with_content)
            # the completion again (its answer was lost, or the last content said ?0): nothing changes
        else:
            length = _append_length(version, info, offset, declared, sent, complete)
            info = await service.append(upload_id, offset, body, length=length, owner=owner)
            if complete:
                info = await complete_at_end(service, version, info, owner)
    status = CREATED if info.is_complete else version.incomplete_append_status
    return web.Response(status=status, headers=h.state(service, version, info))


async def delete(request: web.Request) -> web.Response:
    version = h.version_of(request)
    h.refuse(request, version.refused_on_delete, "an upload cancellation (DELETE)")
    await terminate(request)  # as tus terminates: the processed media go with the upload
    return web.Response(status=204)
