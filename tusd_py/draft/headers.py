"""Reading a draft request's headers and writing the state headers of its answers.

Each header of the draft is single-valued: sent twice, it is refused (a proxy in front may have
judged the other value), as tus headers are in ``web/routes.py``.
"""

from __future__ import annotations

import base64
import math
import time
import warnings

from aiohttp import web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from ..core.service import UploadService
from ..protocol import constants as c
from ..protocol.errors import BadRequest, UnsupportedMediaType
from ..protocol.headers import Metadata, parse_metadata
from ..protocol.info import UploadInfo
from .fields import boolean, dictionary, parse_boolean, parse_length
from .versions import (
    H_INTEROP_VERSION,
    H_UPLOAD_LENGTH,
    H_UPLOAD_LIMIT,
    H_UPLOAD_OFFSET,
    InteropVersion,
    interop_version,
)

SINGLE_VALUED = (
    H_INTEROP_VERSION,
    "Upload-Complete",
    "Upload-Incomplete",
    H_UPLOAD_OFFSET,
    H_UPLOAD_LENGTH,
    "Content-Type",
    "Content-Disposition",
)
# Media types that label the transfer rather than the file: never recorded as its filetype
TRANSFER_TYPES = frozenset({"application/partial-upload", c.OFFSET_CONTENT_TYPE})


def version_of(request: web.Request) -> InteropVersion:
    for name in SINGLE_VALUED:
        if len(request.headers.getall(name, ())) > 1:
            raise BadRequest(f"{name} is sent more than once; a resumable upload request carries it once")
    return interop_version(request.headers.get(H_INTEROP_VERSION, ""))


def completes(request: web.Request, version: InteropVersion, *, required: bool) -> bool:
    """Whether the request's content ends the upload (``Upload-Complete: ?1``, or
    ``Upload-Incomplete: ?0`` in interop 3). Absent and not required: the drafts up to -05
    let the last append omit it."""
    value = request.headers.get(version.complete_header)
    if value is None:
        if required:
            raise BadRequest(f"a resumable upload request must carry {version.complete_header}")
        return True
    return version.complete_value(parse_boolean(version.complete_header, value))


def refuse(request: web.Request, names: tuple[str, ...], what: str) -> None:
    for name in names:
        if name in request.headers:
            raise BadRequest(f"{what} must not carry {name}")


def declared_length(request: web.Request) -> int | None:
    value = request.headers.get(H_UPLOAD_LENGTH)
    return None if value is None else parse_length(value)


def content_length(request: web.Request) -> int | None:
    """The request content's length, or None for a chunked body (its length is known at its end)."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return None
    return request.content_length or 0


def check_media_type(request: web.Request, version: InteropVersion) -> None:
    if version.patch_media_type is None:
        return
    media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type != version.patch_media_type:
        raise UnsupportedMediaType(f"an append requires Content-Type: {version.patch_media_type}")


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def metadata_of(request: web.Request) -> Metadata:
    """``Upload-Metadata`` (tus-js-client sends it in draft mode too), completed from the
    representation metadata the drafts name: ``Content-Type`` as ``filetype`` and the
    ``Content-Disposition`` filename as ``filename`` (tusd does the same)."""
    metadata = parse_metadata(request.headers.get(c.H_UPLOAD_METADATA))
    extra = []
    media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type and media_type not in TRANSFER_TYPES and "filetype" not in metadata.values:
        extra.append(f"filetype {_b64(media_type)}")
    disposition = request.headers.get("Content-Disposition")
    if disposition and "filename" not in metadata.values:
        with warnings.catch_warnings():  # aiohttp warns about a malformed header, then ignores it
            warnings.simplefilter("ignore")
            _, params = parse_content_disposition(disposition)
        if filename := content_disposition_filename(params, "filename"):
            extra.append(f"filename {_b64(filename)}")
    if not extra:
        return metadata
    # through the tus parser once more: the same rules (no control characters in a filename...)
    return parse_metadata(",".join([metadata.raw, *extra] if metadata.raw else extra))


def limits(service: UploadService, version: InteropVersion, info: UploadInfo | None = None) -> dict[str, str]:
    """``Upload-Limit`` (interop 6 on): the size limits, and the remaining lifetime of an upload
    that expires (of a new one, for OPTIONS)."""
    if version.age_key is None:  # no Upload-Limit before -04
        return {}
    members = {"min-size": 0, "max-size": service.max_size}
    if info is None:
        if service.limits.expiry_seconds > 0 and c.EXT_EXPIRATION in service.extensions():
            members[version.age_key] = math.ceil(service.limits.expiry_seconds)
    elif info.expires_at is not None and not info.is_complete:
        members[version.age_key] = max(0, math.ceil(info.expires_at - time.time()))
    return {H_UPLOAD_LIMIT: dictionary(members)}


def state(service: UploadService, version: InteropVersion, info: UploadInfo) -> dict[str, str]:
    """Where the upload stands: offset, completeness, length if known, limits."""
    headers = {
        H_UPLOAD_OFFSET: str(info.offset),
        version.complete_header: boolean(version.complete_value(info.is_complete)),
    }
    if info.size is not None:
        headers[H_UPLOAD_LENGTH] = str(info.size)
    headers.update(limits(service, version, info))
    return headers
