"""Delivery of ready assets: signed HLS playlists, the key endpoint, segments, decrypted files.

Every URL carries ``exp``, ``aud`` and ``sig`` (``Signer``; HMAC-SHA256 over the path, the
expiry and the audience). A served playlist signs the URLs it names with *its own* expiry and
audience, so a playback session lasts as long as its master URL and no longer::

    GET /media/{id}/hls/master.m3u8     master playlist: variant URLs signed
    GET /media/{id}/hls/{name}.m3u8     media playlist: EXT-X-KEY + segment URLs signed
    GET /media/{id}/hls/{dir}/{seg}.ts  AES-128 ciphertext: sent from disk, or 302 to presigned S3
    GET /media/{id}/key                 the 16-byte AES-128 key
    GET /media/{id}/files/{name}        poster, thumbnails, original: decrypted, with Range

The audience is the asset's owner (the user id; "" on an open server): a URL names the asset in
its path and its owner in ``aud``, and is honoured only while that upload exists and still
belongs to that owner, so a deleted upload or an erased account stops its URLs at once.
A bad, altered or expired signature is 403 before anything is read. Playback holds no crypto of
its own: the ``Vault`` port (``ports.py``) decrypts. Playlists are read and written with
``m3u8``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import m3u8
from aiohttp import web

from pipeline.contract import MediaRecord, MediaState

from ..keys import SERVICE, SETTINGS
from ..origin import absolute_url
from ..web.middlewares import decorate
from .downloads import integrity_guard, serve_plain
from .keys import MEDIA, SIGNER, VAULT
from .ports import MediaNotReady, Signer

_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".jpg": "image/jpeg"}


def hls_path(upload_id: str, relative: str) -> str:
    return f"/media/{upload_id}/hls/{relative}"


def key_path(upload_id: str) -> str:
    return f"/media/{upload_id}/key"


def file_path(upload_id: str, relative: str) -> str:
    return f"/media/{upload_id}/files/{relative}"


def absolute(request: web.Request, path: str) -> str:
    server = request.app[SETTINGS].server
    return absolute_url(request, path, public_base_url=server.public_base_url, behind_proxy=server.behind_proxy)


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
    """Check the signature first (403), then the upload and its owner, then find the ready asset (404)."""
    signer = request.app[SIGNER]
    exp, aud = signer.check(request.rel_url.path, request.query)
    upload_id = request.match_info["upload_id"]
    info = await request.app[SERVICE].info(upload_id)  # 404 / 410 once the upload is deleted
    if info.owner != aud:  # signed for the owner of another time: the asset changed hands or was erased
        raise MediaNotReady(f"media {upload_id} is not ready")
    record = await request.app[MEDIA].get(upload_id)
    if record is None or record.state is not MediaState.READY or not record.data_key:
        raise MediaNotReady(f"media {upload_id} is not ready")
    return record, signer, exp, aud


def _text(request: web.Request, body: str) -> web.Response:
    response = web.Response(text=body, content_type=_TYPES[".m3u8"], headers={"Cache-Control": "private, no-store"})
    decorate(request, response)
    return response


def _master(text: str, uri_for: Callable[[str], str]) -> str:
    """A master playlist with every variant URI replaced by ``uri_for(uri)``."""
    playlist = m3u8.loads(text)
    for variant in playlist.playlists:
        variant.uri = uri_for(variant.uri)
    return str(playlist.dumps())


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
