"""Upload URLs: the Location we hand out, and the upload IDs inside Upload-Concat URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from ..origin import absolute_url
from ..protocol.errors import InvalidConcat
from ..settings import Settings


def upload_url(request: web.Request, settings: Settings, upload_id: str) -> str:
    server = settings.server
    path = server.base_path + upload_id
    if server.relative_location and not server.public_base_url:
        return path
    return absolute_url(request, path, public_base_url=server.public_base_url, behind_proxy=server.behind_proxy)


def id_from_url(url: str, base_path: str) -> str:
    """The upload ID in an absolute or relative upload URL under ``base_path``."""
    path = urlsplit(url).path
    if not path.startswith(base_path):
        raise InvalidConcat(f"{url!r} is not an upload URL under {base_path}")
    upload_id = path[len(base_path) :]
    if not upload_id or "/" in upload_id:
        raise InvalidConcat(f"{url!r} does not name an upload")
    return upload_id
