"""Serving bytes by range: decrypted files of an asset, and the tus GET on a finished upload.

``serve_plain`` streams a ``ByteSource`` with single-range support (aiohttp's
``request.http_range``). For a decrypted source the first chunk is authenticated before the
headers go out, so tampering is a 500 with a message; a later bad frame aborts the connection
(Content-Length is never met), never garbage.

``UploadDownloads`` is what the tus GET hands a finished upload to (its ``Downloads`` port): once
the asset is ready the plaintext upload is gone from its store, and the kept original, decrypted,
is served in its place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import structlog
from aiohttp import hdrs, web

from pipeline.crypto.keys import CryptoError

from ..protocol.errors import ContentGone
from ..web.middlewares import decorate
from .ports import ByteSource, IntegrityFailure, OriginalSource

log = structlog.get_logger("tusd_py.playback.downloads")


def _unsatisfiable(size: int) -> web.HTTPRequestRangeNotSatisfiable:
    return web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})


def byte_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """(start, end-exclusive) of a single byte range, None without one; 416 if unsatisfiable.

    A multi-range or malformed header is ignored and the whole object sent (RFC 9110 allows it).
    aiohttp refuses a backwards range (``bytes=5-2``) like a malformed one and reads the empty
    suffix ``bytes=-0`` as ``bytes=0-``; both are unsatisfiable ranges, answered 416."""
    if hdrs.RANGE not in request.headers:
        return None
    try:
        wanted = request.http_range
    except ValueError as exc:
        if "start cannot be after end" in str(exc):
            raise _unsatisfiable(size) from None
        return None
    if wanted.start == 0 and "=-" in request.headers[hdrs.RANGE]:
        raise _unsatisfiable(size)
    start, end, _ = wanted.indices(size)
    if start >= end:
        raise _unsatisfiable(size)
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
    request: web.Request, plain: ByteSource, *, content_type: str, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Stream an object with Range support; for a decrypted one, failures are as the module says."""
    size = plain.size
    wanted = byte_range(request, size)
    start, end = wanted or (0, size)
    chunks = aiter(plain.stream(start, end))
    with integrity_guard(request):
        first = await anext(chunks, b"")
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    response.content_type = content_type
    response.content_length = end - start
    response.headers["Accept-Ranges"] = "bytes"
    if wanted:
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


class UploadDownloads:
    """The tus GET's ``Downloads`` port: a finished upload's bytes, from its store while it is
    there, else the decrypted kept original of its asset."""

    def __init__(self, originals: OriginalSource) -> None:
        self.originals = originals

    async def serve(
        self,
        request: web.Request,
        upload_id: str,
        stored: ByteSource | None,
        *,
        content_type: str,
        headers: Mapping[str, str],
    ) -> web.StreamResponse:
        with integrity_guard(request):
            original = await self.originals.original(upload_id)
        source = original if original is not None else stored
        if source is None:  # the store dropped the plaintext and nothing replaces it: as HEAD says
            raise ContentGone()
        return await serve_plain(request, source, content_type=content_type, headers=headers)

    async def replaced(self, request: web.Request, upload_id: str) -> bool:
        with integrity_guard(request):
            return await self.originals.original(upload_id) is not None
