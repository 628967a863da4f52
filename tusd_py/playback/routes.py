"""The routes of playback, all under ``/media/{id}`` (``settings.py`` keeps tus uploads out of it)."""

from __future__ import annotations

from aiohttp import web

from . import delivery, listing, status

_ID = r"{upload_id:[A-Za-z0-9_\-]{1,200}}"
_NAME = r"{name:[A-Za-z0-9_\-][A-Za-z0-9_.\-/]{0,300}}"


def setup_playback_routes(app: web.Application) -> None:
    app.router.add_get("/media", listing.list_media)  # the caller's media, newest first
    app.router.add_get(rf"/media/{_ID}", status.get_status)
    app.router.add_get(rf"/media/{_ID}/events", status.events)
    app.router.add_get(rf"/media/{_ID}/hls/{_NAME}", delivery.hls)
    app.router.add_get(rf"/media/{_ID}/key", delivery.hls_key)
    app.router.add_get(rf"/media/{_ID}/files/{_NAME}", delivery.files)
