"""Routes of the web application: ``GET /`` (the page) and ``GET /static/{name}`` (its bundle).

They are added before the tus routes, so that with ``TUSD_BASE_PATH=/`` the page still answers
``GET /`` (the tus collection there takes POST and OPTIONS only) and ``/static/...`` (two path
segments) never reads as an upload id. The page is one HTML document; the app routes by the URL's
fragment (``#/watch/{id}``), so no other server path is needed. Both paths are public: the page
holds no data, and everything it shows comes from the authenticated API.
"""

from __future__ import annotations

import html
import string
from pathlib import Path

from aiohttp import web

from ..keys import SETTINGS
from ..settings import Settings

STATIC = Path(__file__).parent / "static"
PAGE = Path(__file__).parent / "index.html"

# The bundle is served as built; "no-cache" makes the browser revalidate (ETag, Last-Modified), so
# an upgraded server never runs with an old bundle.
CACHE = "no-cache"

# hls.js runs its transmuxer in a blob: worker and feeds the <video> through a blob: MediaSource;
# Uppy's previews are blob: images; its components set inline styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self' https: http:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain", ".map": "application/json"}

FILES: web.AppKey[dict[str, Path]] = web.AppKey("tusd_py.webapp.files")
PAGE_HTML = web.AppKey("tusd_py.webapp.page", bytes)


def upload_mode(settings: Settings) -> tuple[str, int]:
    """How the page uploads: ``("s3", part size)`` when the server signs direct uploads (the
    bytes go to the bucket with @uppy/aws-s3), else ``("tus", 0)``. The part size is the store's
    preferred one, never below the smallest part the store accepts: the server bounds an upload's
    part numbers by its declared size over that smallest part."""
    if not settings.direct.direct_uploads:
        return "tus", 0
    storage = settings.storage
    return "s3", max(storage.s3_part_size, storage.s3_min_part_size)


def render_page(settings: Settings) -> bytes:
    """The page with this server's tus endpoint, auth mode and upload mode, read by the bundle at start."""
    template = string.Template(PAGE.read_text(encoding="utf-8"))
    mode, part_size = upload_mode(settings)
    return template.substitute(
        tus_endpoint=html.escape(settings.server.base_path, quote=True),
        auth_mode=html.escape(settings.auth.auth, quote=True),
        upload_mode=mode,
        part_size=part_size,
    ).encode()


async def index(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[PAGE_HTML],
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": CACHE,
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


async def static(request: web.Request) -> web.StreamResponse:
    path = request.app[FILES].get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound(text="no such file\n")
    return web.FileResponse(
        path,
        headers={
            "Cache-Control": CACHE,
            "Content-Type": _TYPES[path.suffix],
            "X-Content-Type-Options": "nosniff",
        },
    )


def setup_webapp_routes(app: web.Application) -> None:
    """Serve the page and the files of ``static/`` (listed once: a name not in it is 404, never a
    path on disk)."""
    app[PAGE_HTML] = render_page(app[SETTINGS])
    app[FILES] = {p.name: p for p in STATIC.iterdir() if p.is_file() and p.suffix in _TYPES}
    app.router.add_get("/", index)
    app.router.add_get(r"/static/{name:[A-Za-z0-9_.\-]{1,100}}", static)
