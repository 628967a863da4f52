"""OPTIONS and upload creation (POST) of the resumable-upload draft, on the tus base path.

One upload is one upload: the draft's creation is ``UploadService.create`` then ``append``,
as a tus creation-with-upload, so stores, locks, expiry, ownership and the processing hand-off
are the tus ones. What the draft adds: the length may come from ``Content-Length`` with
``Upload-Complete: ?1``, may stay unknown until the completing request, and the 104 interim
response names the upload before its content is read.
"""

from __future__ import annotations

from aiohttp import web

from ..keys import SERVICE, SETTINGS
from ..protocol import constants as c
from ..web.body import AiohttpBody
from ..web.identity import owner_of
from ..web.urls import upload_url
from . import headers as h
from .interim import send_104
from .problems import inconsistent_length, worded
from .resource import complete_at_end
from .versions import H_INTEROP_VERSION, PARTIAL_UPLOAD, InteropVersion


async def options(request: web.Request) -> web.Response:
    version = h.version_of(request)
    service = request.app[SERVICE]
    answer = {c.H_TUS_VERSION: ",".join(c.TUS_VERSIONS), **h.limits(service, version)}
    if version.accept_patch:
        answer["Accept-Patch"] = PARTIAL_UPLOAD
    return web.Response(status=204, headers=answer)


def _length(request: web.Request, version: InteropVersion, complete: bool) -> int | None:
    """The upload's length if this request tells it: ``Upload-Length``, or the content's length
    when the content ends the upload. Both present, they must agree."""
    declared = h.declared_length(request)
    sent = h.content_length(request)
    if complete and sent is not None:
        if declared is not None and declared != sent:
            raise inconsistent_length(version, f"Upload-Length {declared} differs from the {sent} bytes sent")
        return sent
    if declared is not None and sent is not None and sent > declared:
        raise inconsistent_length(version, f"the content ({sent} bytes) is longer than Upload-Length {declared}")
    return declared


def check(request: web.Request, version: InteropVersion) -> tuple[bool, int | None]:
    """What the headers of a creation say (whether it completes the upload, its length), or the
    400 they earn: also run before 100 Continue."""
    complete = h.completes(request, version, required=True)
    h.refuse(request, version.refused_on_creation, "an upload creation")
    return complete, _length(request, version, complete)


async def post(request: web.Request) -> web.Response:
    service, settings = request.app[SERVICE], request.app[SETTINGS]
    version = h.version_of(request)
    complete, length = check(request, version)
    metadata = h.metadata_of(request)
    owner = owner_of(request)
    body = AiohttpBody.from_settings(request, settings)

    with worded(version):
        _, info = await service.create(length=length, metadata=metadata, owner=owner)
    location = upload_url(request, settings, info.id)
    limits = h.limits(service, version, info)
    # The upload exists: say where before reading a byte, so an interrupted creation can resume.
    await send_104(request, {"Location": location, H_INTEROP_VERSION: str(version.number), **limits})

    with worded(version, provided_offset=0, location=location):
        if body.declared_length != 0 and not info.is_complete:
            info = await service.append(info.id, 0, body, owner=owner)
        elif body.declared_length != 0 and await body.has_data():
            raise inconsistent_length(version, "the upload is complete at creation: no content is expected")
        if complete:
            info = await complete_at_end(service, version, info, owner)
    return web.Response(status=201, headers={"Location": location, **h.state(service, version, info)})
