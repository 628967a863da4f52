"""OPTIONS (capabilities) and POST (creation, creation-with-upload, defer-length, concatenation)."""

from __future__ import annotations

from aiohttp import web

from ..keys import SERVICE, SETTINGS
from ..protocol import constants as c
from ..protocol.checksum import ALGORITHMS, parse_checksum
from ..protocol.errors import InvalidLength, ModifyFinal, TusError, UnsupportedMediaType, UploadSizeExceeded
from ..protocol.headers import http_date, parse_concat, parse_defer_length, parse_length, parse_metadata
from .body import AiohttpBody
from .identity import owner_of
from .urls import id_from_url, upload_url

_UNBOUNDED = 2**62


async def options(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    headers = {
        c.H_TUS_VERSION: ",".join(c.TUS_VERSIONS),
        c.H_TUS_EXTENSION: ",".join(service.extensions()),  # what the configured store offers
        c.H_TUS_CHECKSUM_ALGORITHM: ",".join(ALGORITHMS),
    }
    if service.max_size < _UNBOUNDED:
        headers[c.H_TUS_MAX_SIZE] = str(service.max_size)
    return web.Response(status=204, headers=headers)


def is_offset_stream(request: web.Request) -> bool:
    """Media type compared case-insensitively, parameters ignored (tus-spec C17)."""
    media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return media_type == c.OFFSET_CONTENT_TYPE


async def _carries_body(request: web.Request, body: AiohttpBody) -> bool:
    if is_offset_stream(request):
        return True
    if body.declared_length == 0 or (body.declared_length is None and not await body.has_data()):
        return False  # an empty body with some default Content-Type is no body (tusd, CU3)
    raise UnsupportedMediaType(f"a body must be sent as {c.OFFSET_CONTENT_TYPE}")


async def post(request: web.Request) -> web.Response:
    service, settings = request.app[SERVICE], request.app[SETTINGS]
    headers = request.headers
    concat = parse_concat(headers.get(c.H_UPLOAD_CONCAT))
    metadata = parse_metadata(headers.get(c.H_UPLOAD_METADATA))
    checksum = parse_checksum(headers.get(c.H_UPLOAD_CHECKSUM))
    length_header, defer_header = headers.get(c.H_UPLOAD_LENGTH), headers.get(c.H_UPLOAD_DEFER_LENGTH)
    body = AiohttpBody.from_settings(request, settings)
    owner = owner_of(request)

    if concat is not None and concat.is_final:
        if length_header is not None or defer_header is not None:
            raise InvalidLength("a final upload must not carry Upload-Length or Upload-Defer-Length")
        if body.declared_length != 0:
            raise ModifyFinal("a final upload cannot carry a body")
        ids = [id_from_url(url, settings.server.base_path) for url in concat.urls]
        _, info = await service.create(length=None, metadata=metadata, concat=concat, partial_ids=ids, owner=owner)
        with_body = False
    else:
        if length_header is not None and defer_header is not None:
            raise InvalidLength("send either Upload-Length or Upload-Defer-Length, not both")
        if length_header is None and defer_header is None:
            raise InvalidLength("Upload-Length or Upload-Defer-Length: 1 is required")
        length = parse_length(length_header) if length_header is not None else None
        if defer_header is not None:
            parse_defer_length(defer_header)
        if length is not None and body.declared_length is not None and body.declared_length > length:
            raise UploadSizeExceeded(f"the body is larger than Upload-Length {length}")  # nothing created
        with_body = await _carries_body(request, body)
        _, info = await service.create(length=length, metadata=metadata, concat=concat, owner=owner)

    location = upload_url(request, settings, info.id)
    response_headers = {"Location": location}
    if with_body:
        try:
            info = await service.append(info.id, 0, body, checksum=checksum, owner=owner)
        except TusError as exc:  # the upload exists: tell the client where to resume (CU5)
            exc.headers.setdefault("Location", location)
            raise
    response_headers[c.H_UPLOAD_OFFSET] = str(info.offset)
    if info.expires_at is not None and not info.is_complete:
        response_headers[c.H_UPLOAD_EXPIRES] = http_date(info.expires_at)
    return web.Response(status=201, headers=response_headers)
