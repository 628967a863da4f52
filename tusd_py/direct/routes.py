"""The S3 signing API under ``/s3/``, as Uppy's Companion serves it, so that the stock
``@uppy/aws-s3`` plugin with ``companionUrl`` (or ``endpoint``) pointing at this server works
unchanged (docs/api.md, "Direct uploads to S3"):

==========================================================  ====================================
``GET    /s3/params?filename=&type=&size=``                 single-upload form (small files)
``POST   /s3/multipart``  ``{filename, type, metadata}``    create: ``{uploadId, key}``
``GET    /s3/multipart/{uploadId}?key=``                    the parts S3 holds (resume)
``GET    /s3/multipart/{uploadId}/{partNumber}?key=``       sign one part: ``{url, expires}``
``GET    /s3/multipart/{uploadId}/batch?key=&partNumbers=``  sign several: ``{presignedUrls}``
``POST   /s3/multipart/{uploadId}/complete?key=``           complete (a single upload too): ``{location}``
``DELETE /s3/multipart/{uploadId}?key=``                    abort: ``{}``
==========================================================  ====================================

The declared size is required (Companion does not need one; this server checks it against
``TUSD_MAX_SIZE``, the quota and, at completion, what S3 holds): ``size`` in the JSON body or in
``metadata`` (Uppy sends the file's meta there), or ``size`` / ``metadata[size]`` in the query of
``/s3/params``.
Errors are the server's usual ``ERR_CODE: message`` (``web/middlewares.py``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from ..keys import SETTINGS
from ..protocol.errors import BadRequest, TooLarge
from ..protocol.headers import parse_length
from ..web.identity import owner_of
from ..web.urls import upload_url
from .service import MAX_META_ENTRIES, MAX_META_VALUE, DirectService

DIRECT = web.AppKey("tusd_py.direct", DirectService)

MAX_JSON = 64 * 1024  # create: a file name and a little metadata
MAX_COMPLETE_JSON = 1024 * 1024  # complete: up to 10,000 parts listed (Companion's limit too)
_ID = r"{upload_id:[A-Za-z0-9_\-]{1,200}}"
_NUMBER = re.compile(r"[0-9]{1,5}", re.ASCII)


def _single(request: web.Request, name: str, *, required: bool = True) -> str:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"the query parameter {name!r} is given more than once")
    if not values:
        if required:
            raise BadRequest(f"the query parameter {name!r} is required, e.g. ?{name}=...")
        return ""
    return values[0]


async def _json(request: web.Request, limit: int) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the JSON body may hold at most {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"the JSON body may hold at most {limit} bytes")
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object")
    return doc


def _text(value: Any, name: str, limit: int = MAX_META_VALUE) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise BadRequest(f"{name!r} must be printable text of at most {limit} characters")
    return value


def _metadata(raw: Any) -> dict[str, str]:
    """Uppy's file meta: text values are kept (tus metadata keys only), the rest is dropped."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > 4 * MAX_META_ENTRIES:
        raise BadRequest(f"'metadata' must be an object of at most {4 * MAX_META_ENTRIES} entries")
    return {str(k): v for k, v in raw.items() if isinstance(v, str) and len(v) <= MAX_META_VALUE}


def _size(value: Any) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise BadRequest("the declared size is required: 'size' in the body, in 'metadata', or ?size=")
    if isinstance(value, int):
        if value < 0:
            raise BadRequest(f"the declared size must not be negative, not {value}")
        return value
    if isinstance(value, str) and len(value) <= 20:
        return parse_length(value)  # digits only (400 otherwise)
    raise BadRequest("the declared size must be a whole number of bytes")


def _numbers(text: str) -> list[int]:
    if len(text) > 1024:
        raise BadRequest("too many part numbers")
    numbers = []
    for item in text.split(","):
        if not _NUMBER.fullmatch(item):
            raise BadRequest(f"part numbers must be whole numbers between 1 and 10000, not {item[:32]!r}")
        numbers.append(int(item))
    return numbers


def _part_number(request: web.Request) -> int:
    text = request.match_info["part_number"]
    if len(text) > 5:
        raise BadRequest(f"the part number must be between 1 and 10000, not {text[:32]}")
    return int(text)


# -- handlers ------------------------------------------------------------------------------------
async def create_multipart(request: web.Request) -> web.Response:
    doc = await _json(request, MAX_JSON)
    raw_meta = doc.get("metadata")
    metadata = _metadata(raw_meta)
    size = _size(doc["size"] if "size" in doc else raw_meta.get("size") if isinstance(raw_meta, dict) else None)
    info = await request.app[DIRECT].create(
        owner_of(request),
        size=size,
        filename=_text(doc.get("filename"), "filename"),
        content_type=_text(doc.get("type"), "type", 255),
        metadata=metadata,
        multipart=True,
    )
    return web.json_response({"uploadId": info.id, "key": info.storage["key"]}, status=200)


async def single_params(request: web.Request) -> web.Response:
    """``GET /s3/params``: a new single upload and its presigned POST form (Companion's answer,
    which every version of Uppy's plugin sends). Uppy sends the file's meta as further query
    parameters (``metadata[name]=...``; older versions ``name=...``)."""
    if len(request.query) > 4 * MAX_META_ENTRIES:
        raise BadRequest("too many query parameters")
    filename = _text(_single(request, "filename", required=False), "filename")
    content_type = _text(_single(request, "type", required=False), "type", 255)
    size = _size(_single(request, "size", required=False) or request.query.get("metadata[size]"))
    metadata: dict[str, str] = {}
    for name, value in request.query.items():
        if name.startswith("metadata[") and name.endswith("]"):
            name = name[len("metadata[") : -1]
        if name not in ("filename", "type", "size") and len(value) <= MAX_META_VALUE:
            metadata[name] = value
    direct = request.app[DIRECT]
    info = await direct.create(
        owner_of(request), size=size, filename=filename, content_type=content_type, metadata=metadata, multipart=False
    )
    url, fields = await direct.sign_post(info, content_type)
    return web.json_response(
        {
            "method": "POST",
            "url": url,
            "fields": fields,
            "expires": direct.policy.url_ttl,
            "key": info.storage["key"],
            "uploadId": info.id,
        }
    )


async def list_parts(request: web.Request) -> web.Response:
    parts = await request.app[DIRECT].list_parts(
        owner_of(request), request.match_info["upload_id"], _single(request, "key")
    )
    return web.json_response([{"PartNumber": n, "Size": s, "ETag": e} for n, s, e in parts])


async def sign_part(request: web.Request) -> web.Response:
    direct = request.app[DIRECT]
    number = _part_number(request)
    urls = await direct.sign_parts(
        owner_of(request), request.match_info["upload_id"], _single(request, "key"), [number]
    )
    return web.json_response({"url": urls[number], "expires": direct.policy.url_ttl})


async def sign_batch(request: web.Request) -> web.Response:
    numbers = _numbers(_single(request, "partNumbers"))
    urls = await request.app[DIRECT].sign_parts(
        owner_of(request), request.match_info["upload_id"], _single(request, "key"), numbers
    )
    return web.json_response({"presignedUrls": {str(n): url for n, url in urls.items()}})


async def complete(request: web.Request) -> web.Response:
    """The client's ``parts`` list is checked for shape (as Companion does) but not used: the
    server completes with the parts S3 lists."""
    doc = await _json(request, MAX_COMPLETE_JSON)
    parts = doc.get("parts")
    if not isinstance(parts, list) or not all(
        isinstance(p, dict) and isinstance(p.get("PartNumber"), int) and isinstance(p.get("ETag"), str) for p in parts
    ):
        raise BadRequest("'parts' must be an array of {PartNumber, ETag} objects")
    key = _single(request, "key")
    info = await request.app[DIRECT].complete(owner_of(request), request.match_info["upload_id"], key)
    location = upload_url(request, request.app[SETTINGS], info.id)
    return web.json_response(
        {"location": location, "key": key, "uploadId": info.id, "status": f"/media/{info.id}", "size": info.size}
    )


async def abort(request: web.Request) -> web.Response:
    await request.app[DIRECT].abort(owner_of(request), request.match_info["upload_id"], _single(request, "key"))
    return web.json_response({})


def setup_direct_routes(app: web.Application, direct: DirectService) -> None:
    """Before the tus routes: with ``TUSD_BASE_PATH=/`` these paths must not read as upload ids."""
    app[DIRECT] = direct
    router = app.router
    router.add_get("/s3/params", single_params, allow_head=False)
    router.add_post("/s3/multipart", create_multipart)
    router.add_get(f"/s3/multipart/{_ID}", list_parts, allow_head=False)
    router.add_delete(f"/s3/multipart/{_ID}", abort)
    router.add_get(f"/s3/multipart/{_ID}/batch", sign_batch, allow_head=False)
    router.add_get(f"/s3/multipart/{_ID}/{{part_number:[0-9]{{1,12}}}}", sign_part, allow_head=False)
    router.add_post(f"/s3/multipart/{_ID}/complete", complete)
