"""Route table. One dispatcher per URL applies X-HTTP-Method-Override and the version check
before any handler runs, because aiohttp routes on the real method."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from aiohttp import web

from ..auth.ports import AUTHENTICATE
from ..keys import ADMISSION, INGEST, OBSERVER, SERVICE, SETTINGS
from ..protocol.constants import (
    H_METHOD_OVERRIDE,
    H_TUS_RESUMABLE,
    H_TUS_VERSION,
    H_UPLOAD_CHECKSUM,
    H_UPLOAD_CONCAT,
    H_UPLOAD_DEFER_LENGTH,
    H_UPLOAD_LENGTH,
    H_UPLOAD_METADATA,
    H_UPLOAD_OFFSET,
    OFFSET_CONTENT_TYPE,
    TUS_VERSIONS,
)
from ..protocol.errors import (
    BadRequest,
    InvalidMethodOverride,
    MethodNotAllowed,
    PreconditionFailed,
    TooLarge,
    TusError,
    UnsupportedMediaType,
)
from ..protocol.headers import parse_length
from . import creation, download, transfer
from .creation import is_offset_stream
from .identity import owner_of
from .middlewares import Handler, decorate, error_response

# What a browser or proxy that can only send GET and POST needs to reach; nothing else may be
# tunnelled, so a GET (a link, an <img>) can never delete or change an upload.
OVERRIDABLE = ("PATCH", "DELETE", "HEAD")


# Headers a tus request may carry once. Sent twice, the server would act on the first value while
# a proxy or WAF in front may have judged the last: refused, whatever the values.
SINGLE_VALUED = (
    H_TUS_RESUMABLE,
    H_UPLOAD_OFFSET,
    H_UPLOAD_LENGTH,
    H_UPLOAD_DEFER_LENGTH,
    H_UPLOAD_METADATA,
    H_UPLOAD_CHECKSUM,
    H_UPLOAD_CONCAT,
    H_METHOD_OVERRIDE,
    "Content-Type",
)


@dataclass(frozen=True)
class SideProtocol:
    """Another upload protocol on the same URLs, told apart by a request header tus never sends:
    the IETF resumable-upload draft (``tusd_py/draft``, wired in by app.py). Its requests skip the
    tus rules (Tus-Resumable, the method override, the tus PATCH media type) for its own handlers
    and header checks; the duplicate-header refusal, the in-flight cap and the ingest count apply
    to them as to tus requests."""

    header: str
    collection: dict[str, Handler]  # the base path
    resource: dict[str, Handler]  # an upload URL
    expect: Callable[[web.Request], None]  # what the headers alone condemn, before 100 Continue


def _check_single(request: web.Request) -> None:
    headers = request.headers
    for name in SINGLE_VALUED:
        if len(headers.getall(name, ())) > 1:
            raise BadRequest(f"{name} is sent more than once; a tus request carries it once")


def _method(request: web.Request) -> str:
    """The method the request stands for: X-HTTP-Method-Override counts only on a real POST."""
    if request.method != "POST":
        return request.method  # the header is ignored, as tusd does
    override = request.headers.get(H_METHOD_OVERRIDE, "").strip().upper()
    if not override:
        return request.method
    if override not in OVERRIDABLE:
        raise InvalidMethodOverride(
            f"X-HTTP-Method-Override may only be {', '.join(OVERRIDABLE)}, got {override[:32]!r}"
        )
    return override


def _check_version(request: web.Request, method: str) -> None:
    if method == "OPTIONS":
        return  # OPTIONS ignores Tus-Resumable (C28); browsers' preflights never send it
    version = request.headers.get(H_TUS_RESUMABLE)
    if version is None and method == "GET":
        return  # plain downloads from browsers and curl
    if version not in TUS_VERSIONS:
        raise PreconditionFailed(
            f"unsupported Tus-Resumable {version!r}; this server speaks {','.join(TUS_VERSIONS)}",
            headers={H_TUS_VERSION: ",".join(TUS_VERSIONS)},
        )


async def _expect(request: web.Request, side: SideProtocol | None = None) -> web.StreamResponse | None:
    """Expect: 100-continue. Reject what the headers alone condemn before the client sends a
    possibly huge body (tus-spec CU4); aiohttp would otherwise say 100 Continue first."""
    try:
        _check_single(request)
        if (authenticate := request.app.get(AUTHENTICATE)) is not None:
            await authenticate(request)  # no token, no body: 401 instead of 100 Continue
        sided = side is not None and side.header in request.headers
        if side is not None and sided:
            side.expect(request)
            method = request.method
        else:
            method = _method(request)  # a refused override is refused before 100 Continue, too
            _check_version(request, method)
        if method == "POST" and (length := request.headers.get(H_UPLOAD_LENGTH)) is not None:
            service, declared = request.app[SERVICE], parse_length(length)
            if declared > service.max_size:
                raise TooLarge(f"Upload-Length {length} exceeds the maximum size {service.max_size}")
            # The caller is known once the auth check above ran (none on an open server). A partial
            # upload counts like any other; a final one carries no Upload-Length (400 in the POST).
            if owner := owner_of(request):
                await service.quota.admit_upload(owner, declared, in_flight=declared != 0)
        if method == "PATCH" and not sided and not is_offset_stream(request):
            raise UnsupportedMediaType(f"PATCH requires Content-Type: {OFFSET_CONTENT_TYPE}")
        if method in ("PATCH", "POST"):
            request.app[ADMISSION].check_upload(request)  # busy: say so before the client sends the body
    except TusError as exc:
        response = error_response(request, exc)
        decorate(request, response)
        if (observer := request.app.get(OBSERVER)) is not None:  # answered here, the middleware never runs
            observer.request(request.method)
            observer.error(exc.status, exc.code)
        return response
    if request.headers.get("Expect", "").lower() != "100-continue":
        return None
    if request.version >= (1, 1):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
    return None


def _dispatch(table: dict[str, Handler], side: dict[str, Handler] | None = None, side_header: str = "") -> Handler:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        _check_single(request)
        sided = side is not None and side_header in request.headers
        handlers, method = (side, request.method) if side is not None and sided else (table, _method(request))
        handler = handlers.get(method)
        if handler is None:
            raise MethodNotAllowed(f"{method} is not allowed here", headers={"Allow": ", ".join(handlers)})
        if not sided:
            _check_version(request, method)
        if method in ("PATCH", "POST"):  # may carry an upload's bytes: processing waits (ingest.py)
            # A body beyond TUSD_MAX_UPLOADS_IN_FLIGHT is refused here, before a byte of it is read.
            with request.app[ADMISSION].upload(request), request.app[INGEST].receiving():
                return await handler(request)
        return await handler(request)

    return dispatch


def setup_routes(app: web.Application, side: SideProtocol | None = None) -> None:
    """The tus routes, and ``side``'s handlers on the same URLs for the requests it recognises."""
    settings = app[SETTINGS]
    base = settings.server.base_path
    header = side.header if side is not None else ""
    collection = _dispatch(
        {"OPTIONS": creation.options, "POST": creation.post}, side.collection if side is not None else None, header
    )
    uploads: dict[str, Handler] = {
        "OPTIONS": creation.options,
        "HEAD": transfer.head,
        "PATCH": transfer.patch,
        "DELETE": transfer.delete,
    }
    if settings.server.enable_download:
        uploads["GET"] = download.get
    resource = _dispatch(uploads, side.resource if side is not None else None, header)
    expect = partial(_expect, side=side)
    if base != "/":
        app.router.add_route("*", base.rstrip("/"), collection, expect_handler=expect)
    app.router.add_route("*", base, collection, expect_handler=expect)
    app.router.add_route("*", base + r"{upload_id:[A-Za-z0-9_\-]{1,200}}", resource, expect_handler=expect)
