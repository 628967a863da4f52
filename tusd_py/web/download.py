"""GET on a finished upload: stream it, with single-range support, as tusd does.

Once its asset is ready the plaintext upload is gone from the store; the ``ORIGINALS`` port
(the pipeline's vault, wired by app.py) then yields the kept original, decrypted. The tus core
knows nothing of this. ``serve_plain`` streams any such decrypted object (delivery uses it too):
the first chunk is authenticated before the headers go out, so tampering is a 500 with a
message; a later bad frame aborts the connection (Content-Length is never met), never garbage.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import structlog
from aiohttp import web

from pipeline.crypto.keys import CryptoError

from ..core.ports import Upload
from ..keys import ORIGINALS, SERVICE
from ..protocol.headers import Metadata
from .delivery_ports import IntegrityFailure, PlainObject
from .middlewares import decorate

log = structlog.get_logger("tusd_py.download")

# Types a browser may render inline; anything else is an attachment (stored-XSS guard, as tusd).
# Always fullmatch: ``$`` also matches before a final newline, and "text/plain\n" in a header is a 500.
_INLINE = re.compile(
    r"image/(png|jpeg|gif|webp|avif)|video/[\w.+-]+|audio/[\w.+-]+|text/plain|application/pdf", re.ASCII
)
_TOKEN = re.compile(r"[\w.+-]+/[\w.+-]+", re.ASCII)
FALLBACK_TYPE = "application/octet-stream"


def _range(request: web.Request, size: int) -> tuple[int, int] | None:
    """(start, end-exclusive) of a single byte range, None without Range; 416 if unsatisfiable."""
    header = request.headers.get("Range")
    if header is None:
        return None
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or match.groups() == ("", ""):
        return None  # multi-range or garbage: RFC 9110 lets us ignore it and send the whole file
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
    if start >= size or start >= end:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, end


@contextlib.contextmanager
def integrity_guard(request: web.Request) -> Iterator[None]:
    """Stored data that fails authentication (or a key that will not unwrap): logged, then 500."""
    try:
        yield
    except CryptoError as exc:
        log.error("integrity_error", path=request.path, error=str(exc), kind=type(exc).__name__)
        raise IntegrityFailure(f"stored data failed its integrity check: {exc}") from None


async def serve_plain(
    request: web.Request, plain: PlainObject, *, content_type: str, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    """Stream an object with Range support; for a decrypted one, failures are as the module says."""
    size = plain.size
    byte_range = _range(request, size)
    start, end = byte_range or (0, size)
    chunks = aiter(plain.stream(start, end))
    with integrity_guard(request):
        first = await anext(chunks, b"")
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    response.content_type = content_type
    response.content_length = end - start
    response.headers["Accept-Ranges"] = "bytes"
    if byte_range:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    decorate(request, response)
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except CryptoError as exc:  # headers are out: cut the connection so the client sees a failure
        log.error("integrity_error", path=request.path, error=str(exc), sent_headers=True)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


@dataclass(frozen=True)
class _Stored:
    """A finished upload still in its store, seen as a ``PlainObject``."""

    upload: Upload
    size: int

    def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        return self.upload.read(start, end)


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


async def get(request: web.Request) -> web.StreamResponse:
    upload, info = await request.app[SERVICE].open_download(request.match_info["upload_id"])
    meta = info.meta()
    content_type = content_type_of(meta)
    originals = request.app.get(ORIGINALS)
    with integrity_guard(request):
        released = await originals.original(info.id) if originals is not None else None
    # once processed, the encrypted kept original has replaced the upload in its store
    source = released if released is not None else _Stored(upload, info.size or 0)
    headers = {"Content-Disposition": disposition_of(meta, content_type, info.id)}
    return await serve_plain(request, source, content_type=content_type, headers=headers)
