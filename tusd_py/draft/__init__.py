"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload, interop versions 3 to 8)
beside tus 1.0, on the same URLs and the same ``UploadService``.

A request carrying ``Upload-Draft-Interop-Version`` is the draft's (``web/routes.py`` hands it
here through ``SideProtocol``); every other request stays tus. ``versions.py`` holds what each
interop version means, ``creation.py`` OPTIONS and POST (with the 104 interim response of
``interim.py``), ``resource.py`` HEAD, PATCH and DELETE, ``problems.py`` the problem types.
"""

from __future__ import annotations

from aiohttp import web

from ..settings import Settings
from ..web import download
from ..web.middlewares import Handler
from ..web.routes import SideProtocol
from . import creation, resource
from .headers import version_of
from .versions import H_INTEROP_VERSION


def expect(request: web.Request) -> None:
    """Refuse, before 100 Continue, what a draft request's headers alone condemn."""
    version = version_of(request)
    if request.method == "POST":
        creation.check(request, version)
    elif request.method == "PATCH":
        resource.check(request, version)


def side_protocol(settings: Settings) -> SideProtocol:
    uploads: dict[str, Handler] = {
        "OPTIONS": creation.options,
        "HEAD": resource.head,
        "PATCH": resource.patch,
        "DELETE": resource.delete,
    }
    if settings.server.enable_download:
        uploads["GET"] = download.get  # the finished upload, as tus serves it
    return SideProtocol(
        header=H_INTEROP_VERSION,
        collection={"OPTIONS": creation.options, "POST": creation.post},
        resource=uploads,
        expect=expect,
    )
