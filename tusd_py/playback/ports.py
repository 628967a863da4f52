"""What playback needs from the rest of the application, as ports, and the signed-URL rules it
applies. The pipeline implements the media ports (``pipeline/vault.py``, ``pipeline/records.py``)
and ``app.py`` wires them in: playback never sees a data key's wrapping, the envelope format or
the storage backend, only plaintext streams, one 16-byte HLS key and segment locations.

Errors (rendered by the one middleware):

* ``SignatureForbidden`` 403: a missing, forged, altered, expired or other-audience signature;
* ``MediaNotReady`` 404: the asset is not ready, or it has no such playlist, segment or file;
* ``IntegrityFailure`` 500: stored ciphertext failed authentication (logged; no byte is sent).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from pipeline.contract import MediaRecord
from pipeline.crypto.signing import ExpiredSignature, SignatureError, sign_url, verify

from ..protocol.errors import Forbidden, TusError, UploadNotFound

Location = tuple[Literal["file", "url"], str]


class SignatureForbidden(Forbidden):
    code = "ERR_BAD_SIGNATURE"


class IntegrityFailure(TusError):
    status = 500
    code = "ERR_INTEGRITY"


class MediaNotReady(UploadNotFound):
    code = "ERR_MEDIA_NOT_READY"


class MediaStatusSource(Protocol):
    async def get(self, upload_id: str) -> MediaRecord | None:
        """The record of an upload, None before processing wrote one."""

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]:
        """Every record written for the upload after entry, as it is written."""


class ByteSource(Protocol):
    """Bytes served by range: a decrypted stored object, or an upload still in its store."""

    @property
    def size(self) -> int: ...

    def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start``..``end`` (exclusive). A decrypted source authenticates each chunk before
        it is yielded and raises ``pipeline.crypto.keys.CryptoError`` on tampering."""
        ...


class OriginalSource(Protocol):
    async def original(self, upload_id: str) -> ByteSource | None:
        """The kept original of a ready asset, decrypted; None while the upload store holds it."""


class Vault(OriginalSource, Protocol):
    async def read_text(self, record: MediaRecord, relative: str) -> str:
        """A small stored text object (a playlist), decrypted and authenticated."""

    async def media_playlist(
        self, record: MediaRecord, relative: str, key_uri: str, uri_for: Callable[[str], str]
    ) -> str:
        """A media playlist as served: ``#EXT-X-KEY`` (with each segment's IV) naming ``key_uri``,
        and every segment URI (as stored, relative to the playlist) mapped by ``uri_for``."""

    async def hls_key(self, record: MediaRecord) -> bytes:
        """The asset's 16-byte HLS AES-128 key."""

    async def open(self, record: MediaRecord, relative: str) -> ByteSource: ...

    async def locate(self, record: MediaRecord, relative: str) -> Location:
        """("file", path) or ("url", presigned URL) of a segment's ciphertext."""


@dataclass(frozen=True)
class Signer:
    """Signs and checks delivery URLs: HMAC-SHA256 over the path, the expiry and the audience."""

    secret: bytes
    ttl: int

    def expiry(self, now: float | None = None) -> int:
        return int(now if now is not None else time.time()) + self.ttl

    def url(self, path: str, *, expires_at: int, audience: str = "") -> str:
        return sign_url(path, expires_at=expires_at, audience=audience, secret=self.secret)

    def check(self, path: str, query: Mapping[str, str]) -> tuple[int, str]:
        """(expiry, audience) of a valid signature of ``path``; SignatureForbidden otherwise."""
        try:
            verify(path, query, secret=self.secret, now=time.time())
        except ExpiredSignature as exc:
            raise SignatureForbidden(f"the signed URL has expired ({exc})") from None
        except SignatureError as exc:
            raise SignatureForbidden(f"invalid signed URL: {exc}") from None
        return int(query["exp"]), query.get("aud", "")
