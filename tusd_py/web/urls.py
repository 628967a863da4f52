"""Upload URLs: the Location we hand out, and the upload IDs inside Upload-Concat URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from ..protocol.errors import InvalidConcat
from ..settings import Settings


def _host_and_proto(request: web.Request, settings: Settings) -> tuple[str, str]:
    host, proto = request.host, request.scheme
    if settings.behind_proxy:  # only then: otherwise any client could steer our Location URLs
        forwarded = request.headers.get("Forwarded", "")
        for part in forwarded.split(",")[0].split(";"):
            key, _, value = part.strip().partition("=")
            value = value.strip('"')
            if key.lower() == "host" and value:
                host = value
            elif key.lower() == "proto" and value in ("http", "https"):
                proto = value
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip() or host
        xproto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if xproto in ("http", "https"):
            proto = xproto
    if (proto, host.rpartition(":")[2]) in (("http", "80"), ("https", "443")):
        host = host.rpartition(":")[0]
    return host, proto


def upload_url(request: web.Request, settings: Settings, upload_id: str) -> str:
    path = settings.base_path + upload_id
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path
    if settings.relative_location:
        return path
    host, proto = _host_and_proto(request, settings)
    return f"{proto}://{host}{path}"


def id_from_url(url: str, base_path: str) -> str:
    """The upload ID in an absolute or relative upload URL under ``base_path``."""
    path = urlsplit(url).path
    if not path.startswith(base_path):
        raise InvalidConcat(f"{url!r} is not an upload URL under {base_path}")
    upload_id = path[len(base_path) :]
    if not upload_id or "/" in upload_id:
        raise InvalidConcat(f"{url!r} does not name an upload")
    return upload_id
