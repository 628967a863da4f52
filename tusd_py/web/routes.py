"""Route table. One dispatcher per URL applies X-HTTP-Method-Override and the version check
before any handler runs, because aiohttp routes on the real method."""

from __future__ import annotations

from aiohttp import web

from ..keys import SETTINGS
from ..protocol.constants import H_METHOD_OVERRIDE, H_TUS_RESUMABLE, H_TUS_VERSION, TUS_VERSIONS
from ..protocol.errors import MethodNotAllowed, PreconditionFailed
from . import creation, download, transfer
from .middlewares import Handler


def _method(request: web.Request) -> str:
    override = request.headers.get(H_METHOD_OVERRIDE, "").strip().upper()
    return override or request.method


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


def _dispatch(table: dict[str, Handler]) -> Handler:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        method = _method(request)
        handler = table.get(method)
        if handler is None:
            raise MethodNotAllowed(f"{method} is not allowed here", headers={"Allow": ", ".join(table)})
        _check_version(request, method)
        return await handler(request)

    return dispatch


def setup_routes(app: web.Application) -> None:
    settings = app[SETTINGS]
    base = settings.base_path
    collection = _dispatch({"OPTIONS": creation.options, "POST": creation.post})
    uploads: dict[str, Handler] = {
        "OPTIONS": creation.options,
        "HEAD": transfer.head,
        "PATCH": transfer.patch,
        "DELETE": transfer.delete,
    }
    if settings.enable_download:
        uploads["GET"] = download.get
    resource = _dispatch(uploads)
    if base != "/":
        app.router.add_route("*", base.rstrip("/"), collection)
    app.router.add_route("*", base, collection)
    app.router.add_route("*", base + r"{upload_id:[A-Za-z0-9_\-]{1,200}}", resource)
