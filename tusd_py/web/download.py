"""GET on a finished upload, as tusd does: the tus side resolves the upload (404, 410, 400 before
it is complete) and derives the response's type and disposition from its metadata; the bytes are
served through the ``Downloads`` port (``tusd_py.playback`` implements it: single ranges, and the
decrypted kept original once processing has replaced the upload in its store).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from aiohttp import web

from ..keys import SERVICE
from ..protocol.errors import ContentGone
from ..protocol.headers import Metadata
from ..protocol.info import UploadInfo
from .identity import owner_of

# Types a browser may render inline; anything else is an attachment (stored-XSS guard, as tusd).
# Always fullmatch: ``$`` also matches before a final newline, and "text/plain\n" in a header is a 500.
_INLINE = re.compile(
    r"image/(png|jpeg|gif|webp|avif)|video/[\w.+-]+|audio/[\w.+-]+|text/plain|application/pdf", re.ASCII
)
_TOKEN = re.compile(r"[\w.+-]+/[\w.+-]+", re.ASCII)
FALLBACK_TYPE = "application/octet-stream"


class StoredBytes(Protocol):
    @property
    def size(self) -> int: ...

    def stream(self, start: int, end: int) -> AsyncIterator[bytes]: ...


class Downloads(Protocol):
    async def serve(
        self,
        request: web.Request,
        upload_id: str,
        stored: StoredBytes | None,
        *,
        content_type: str,
        headers: Mapping[str, str],
    ) -> web.StreamResponse:
        """The response to a GET of the finished upload ``upload_id`` whose bytes, while its
        store holds them, are ``stored`` (None once processing dropped them: ``ContentGone``
        unless a kept original replaces them)."""
        ...

    async def replaced(self, request: web.Request, upload_id: str) -> bool:
        """Whether a kept original serves the upload whose plaintext processing dropped."""
        ...


DOWNLOADS: web.AppKey[Downloads] = web.AppKey("tusd_py.web.download.downloads")


@dataclass(frozen=True)
class _Stored:
    """A finished upload still in its store, read by range."""

    read: Callable[[int, int], AsyncIterator[bytes]]
    size: int

    def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        return self.read(start, end)


def content_type_of(meta: Metadata) -> str:
    """The stated type when it is a plain ``type/subtype`` token, else octet-stream."""
    stated = meta.text("filetype") or meta.text("content_type") or ""
    return stated if _TOKEN.fullmatch(stated) else FALLBACK_TYPE


def disposition_of(meta: Metadata, content_type: str, default_name: str) -> str:
    """Content-Disposition; the name is always percent-encoded (RFC 8187), so no byte of it can
    end the header or add a parameter."""
    filename = meta.text("filename") or meta.text("name") or default_name
    disposition = "inline" if _INLINE.fullmatch(content_type) else "attachment"
    return f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}"


async def check_bytes(request: web.Request, info: UploadInfo) -> None:
    """HEAD answers as GET would: a complete upload whose plaintext processing dropped, with no
    kept original in its place, is ``ContentGone`` (410) to both. Only such an upload costs a
    look-up; the upload's own info says whether it is one, whatever became of its media record."""
    if info.discarded and (downloads := request.app.get(DOWNLOADS)) is not None:
        if not await downloads.replaced(request, info.id):
            raise ContentGone()


async def get(request: web.Request) -> web.StreamResponse:
    upload, info = await request.app[SERVICE].open_download(request.match_info["upload_id"], owner_of(request))
    meta = info.meta()
    content_type = content_type_of(meta)
    headers = {"Content-Disposition": disposition_of(meta, content_type, info.id)}
    # a discarded upload's store holds no plaintext (S3: no object; the file store: a hole of zeros)
    stored = None if info.discarded else _Stored(upload.read, info.size or 0)
    return await request.app[DOWNLOADS].serve(request, info.id, stored, content_type=content_type, headers=headers)
