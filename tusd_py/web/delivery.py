"""Delivery of ready assets: signed HLS playlists, the key endpoint, segments, decrypted files.

Every URL carries ``exp``, ``aud`` and ``sig`` (``Signer``; HMAC-SHA256 over the path, the
expiry and the audience). A served playlist signs the URLs it names with *its own* expiry and
audience, so a playback session lasts as long as its master URL and no longer::

    GET /media/{id}/hls/master.m3u8     master playlist: variant URLs signed
    GET /media/{id}/hls/{name}.m3u8     media playlist: EXT-X-KEY + segment URLs signed
    GET /media/{id}/hls/{dir}/{seg}.ts  AES-128 ciphertext: sent from disk, or 302 to presigned S3
    GET /media/{id}/key                 the 16-byte AES-128 key
    GET /media/{id}/files/{name}        poster, thumbnails, original: decrypted, with Range

A bad, altered or expired signature is 403 before anything is read. The web layer holds no
crypto of its own: the ``MediaVault`` port (``delivery_ports.py``) decrypts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pipeline.contract import MediaRecord, MediaState

from ..keys import MEDIA, SETTINGS, SIGNER, VAULT
from .delivery_ports import MediaNotReady, Signer
from .download import integrity_guard, serve_plain
from .middlewares import decorate
from .urls import _host_and_proto

_ID = r"{upload_id:[A-Za-z0-9_\-]{1,200}}"
_NAME = r"{name:[A-Za-z0-9_\-][A-Za-z0-9_.\-/]{0,300}}"
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".jpg": "image/jpeg"}


def hls_path(upload_id: str, relative: str) -> str:
    return f"/media/{upload_id}/hls/{relative}"


def key_path(upload_id: str) -> str:
    return f"/media/{upload_id}/key"


def file_path(upload_id: str, relative: str) -> str:
    return f"/media/{upload_id}/files/{relative}"


def absolute(request: web.Request, path: str) -> str:
    settings = request.app[SETTINGS]
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path
    host, proto = _host_and_proto(request, settings)
    return f"{proto}://{host}{path}"


def playback_links(request: web.Request, record: MediaRecord, *, audience: str = "") -> dict[str, Any]:
    """The signed URLs of a ready asset for GET /media/{id}: all expire together."""
    signer, uid = request.app[SIGNER], record.upload_id
    exp = signer.expiry()

    def sign(path: str) -> str:
        return absolute(request, signer.url(path, expires_at=exp, audience=audience))

    return {
        "playback_url": sign(hls_path(uid, record.master_playlist)),
        "poster_url": sign(file_path(uid, record.poster)) if record.poster else None,
        "thumbnail_urls": [sign(file_path(uid, t)) for t in record.thumbnails],
        "original_url": sign(file_path(uid, record.original)) if record.original else None,
        "urls_expire_at": exp,
    }


async def _ready(request: web.Request) -> tuple[MediaRecord, Signer, int, str]:
    """Check the signature first (403), then find the ready asset (404)."""
    signer = request.app[SIGNER]
    exp, aud = signer.check(request.rel_url.path, request.query)
    upload_id = request.match_info["upload_id"]
    record = await request.app[MEDIA].get(upload_id)
    if record is None or record.state is not MediaState.READY or not record.data_key:
        raise MediaNotReady(f"media {upload_id} is not ready")
    return record, signer, exp, aud


def _text(request: web.Request, body: str) -> web.Response:
    response = web.Response(text=body, content_type=_TYPES[".m3u8"], headers={"Cache-Control": "private, no-store"})
    decorate(request, response)
    return response


def _master(text: str, uri_for: Any) -> str:
    """Every variant URI (the non-tag lines) of a master playlist replaced by ``uri_for(uri)``."""
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(uri_for(line) if line and not line.startswith("#") else line for line in lines) + "\n"


async def hls(request: web.Request) -> web.StreamResponse:
    record, signer, exp, aud = await _ready(request)
    uid, name = record.upload_id, request.match_info["name"]
    vault = request.app[VAULT]

    def signed(relative: str) -> str:
        return signer.url(hls_path(uid, relative), expires_at=exp, audience=aud)

    if name == record.master_playlist:
        with integrity_guard(request):
            return _text(request, _master(await vault.read_text(record, name), signed))
    playlists = {r.playlist for r in record.renditions}
    if name in playlists:
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        key_url = signer.url(key_path(uid), expires_at=exp, audience=aud)
        with integrity_guard(request):
            text = await vault.media_playlist(record, name, key_url, lambda uri: signed(folder + uri))
        return _text(request, text)
    folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    if not name.endswith(".ts") or ".." in name or not any(p.startswith(folder) for p in playlists):
        raise MediaNotReady(f"no such HLS object {name!r}")
    kind, where = await vault.locate(record, name)
    if kind == "url":
        raise web.HTTPFound(where, headers={"Cache-Control": "private, no-store"})
    response = web.FileResponse(where, headers={"Content-Type": _TYPES[".ts"], "Cache-Control": "private, max-age=60"})
    decorate(request, response)
    return response


async def hls_key(request: web.Request) -> web.Response:
    record, _, _, _ = await _ready(request)
    with integrity_guard(request):
        key = await request.app[VAULT].hls_key(record)
    response = web.Response(body=key, content_type="application/octet-stream", headers={"Cache-Control": "no-store"})
    decorate(request, response)
    return response


async def files(request: web.Request) -> web.StreamResponse:
    record, _, _, _ = await _ready(request)
    name = request.match_info["name"]
    if name not in {record.poster, record.original, *record.thumbnails} - {""}:
        raise MediaNotReady(f"no such file {name!r}")
    with integrity_guard(request):
        plain = await request.app[VAULT].open(record, name)
    suffix = "." + name.rsplit(".", 1)[1] if "." in name else ""
    content_type = _TYPES.get(suffix, "application/octet-stream")
    return await serve_plain(request, plain, content_type=content_type, headers={"Cache-Control": "private"})


def setup_delivery_routes(app: web.Application) -> None:
    app.router.add_get(rf"/media/{_ID}/hls/{_NAME}", hls)
    app.router.add_get(rf"/media/{_ID}/key", hls_key)
    app.router.add_get(rf"/media/{_ID}/files/{_NAME}", files)
