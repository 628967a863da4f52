"""The pipeline side of delivery: it unwraps an asset's data key and reads its encrypted
outputs for the web process, whose playback ports (a vault, a source of originals, a byte
source) this class and ``DecryptedObject`` fit; the application wires them in.

* ``read_text``: a whole small object (a playlist), decrypted and authenticated.
* ``open``: a large object as a ``DecryptedObject`` whose ``stream(start, end)`` decrypts only the
  frames a range touches, a batch at a time, in a thread. The stored size is checked against
  the header on open, so truncation fails before a response starts.
* ``media_playlist``: a media playlist with the key URI and segment URIs the caller signs.
* ``hls_key``: the 16-byte AES-128 key players fetch (an HKDF subkey: it opens segments only).
* ``locate``: where a segment's ciphertext is (a file, or a presigned S3 URL).

Unwrapped keys are cached per record (bounded). A data key wrapped under a KEK this process
does not know (rotated meanwhile) makes it reload its key ring once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from functools import partial

from cachetools import LRUCache

from .assets import AssetStore, Location
from .contract import MediaRecord, MediaState
from .crypto.access import RangeDecryptor
from .crypto.envelope import HEADER_SIZE, IntegrityError, decrypt_bytes
from .crypto.keys import KeyEncryptionKey, UnknownKeyError, WrappedKey
from .crypto.segments import rewrite_media_playlist, segment_iv
from .protect import AssetKeys, asset_context, iv_stream
from .records import MediaRecords

BATCH_BYTES = 1024 * 1024  # plaintext decrypted per step of a stream
CACHE_SIZE = 1024
# A media playlist with more segments than this is parsed and rewritten in a thread: m3u8 takes
# milliseconds over a long one, which would stall every other request on the event loop.
INLINE_SEGMENTS = 64


class DecryptedObject:
    """One stored envelope object, readable by plaintext ranges."""

    def __init__(self, assets: AssetStore, key: str, decryptor: RangeDecryptor) -> None:
        self.assets, self.key, self.decryptor = assets, key, decryptor

    @property
    def size(self) -> int:
        return self.decryptor.length

    async def _frames(self, first: int, count: int) -> bytes:
        offset, length = self.decryptor.span(first, count)
        data = await self.assets.read_range(self.key, offset, offset + length)
        if len(data) != length:
            raise IntegrityError(f"{self.key}: read {len(data)} of {length} stored bytes (changed meanwhile?)")
        return await asyncio.to_thread(self.decryptor.open, first, data)

    async def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Plaintext ``start``..``end`` (exclusive), authenticated frame by frame. An empty range
        still authenticates the last frame. Raises IntegrityError at the first bad frame."""
        frame = self.decryptor.frame_size
        end = min(end, self.size)
        if start >= end:
            await self._frames(self.decryptor.last_index, 1)
            return
        batch = max(1, BATCH_BYTES // frame)
        index, last = start // frame, (end - 1) // frame
        while index <= last:
            count = min(batch, last - index + 1)
            plain = await self._frames(index, count)
            base = index * frame
            yield plain[max(start - base, 0) : min(end - base, len(plain))]
            index += count


class MediaVault:
    def __init__(
        self,
        records: MediaRecords,
        keys: KeyEncryptionKey | None,
        assets: AssetStore | Callable[[], AssetStore],
        *,
        presign_ttl: int = 300,
        reload_keys: Callable[[], KeyEncryptionKey] | None = None,
    ) -> None:
        self.records = records
        self.keys = keys  # None until a KMS ring is opened at startup (set it then)
        self._assets = assets
        self.presign_ttl = presign_ttl
        self.reload_keys = reload_keys
        self._cache: LRUCache[tuple[str, str], AssetKeys] = LRUCache(maxsize=CACHE_SIZE)

    @property
    def assets(self) -> AssetStore:
        if callable(self._assets):  # built on first use: the S3 client opens at startup
            self._assets = self._assets()
        return self._assets

    async def _unwrap(self, record: MediaRecord) -> AssetKeys:
        if self.keys is None:
            raise RuntimeError("the media vault has no key ring")
        wrapped = WrappedKey.from_json(record.data_key)
        cache_key = (record.upload_id, wrapped.blob.hex())
        if (hit := self._cache.get(cache_key)) is not None:
            return hit
        context = asset_context(record.upload_id)
        try:
            data_key = await self.keys.unwrap(wrapped, context=context)
        except UnknownKeyError:
            if self.reload_keys is None:
                raise
            self.keys = self.reload_keys()  # `keys rotate` ran since we loaded the ring
            data_key = await self.keys.unwrap(wrapped, context=context)
        keys = AssetKeys.from_data_key(record.upload_id, data_key)
        self._cache[cache_key] = keys
        return keys

    async def read_text(self, record: MediaRecord, relative: str) -> str:
        keys = await self._unwrap(record)
        blob = await self.assets.get_bytes(record.asset_key(relative))
        plain = await asyncio.to_thread(decrypt_bytes, blob, keys.envelope, keys.object_id(relative))
        return plain.decode()

    async def media_playlist(
        self, record: MediaRecord, relative: str, key_uri: str, uri_for: Callable[[str], str]
    ) -> str:
        index = next(i for i, r in enumerate(record.renditions) if r.playlist == relative)
        stream = iv_stream(index)
        text = await self.read_text(record, relative)
        rewrite = partial(rewrite_media_playlist, text, key_uri, lambda n: segment_iv(n, stream=stream), uri_for)
        if text.count("#EXTINF") <= INLINE_SEGMENTS:
            return rewrite()
        return await asyncio.to_thread(rewrite)

    async def hls_key(self, record: MediaRecord) -> bytes:
        return (await self._unwrap(record)).hls

    async def open(self, record: MediaRecord, relative: str) -> DecryptedObject:
        keys = await self._unwrap(record)
        key = record.asset_key(relative)
        size = await self.assets.size(key)
        header = await self.assets.read_range(key, 0, HEADER_SIZE)
        decryptor = RangeDecryptor(keys.envelope, keys.object_id(relative), header, size)
        return DecryptedObject(self.assets, key, decryptor)

    async def locate(self, record: MediaRecord, relative: str) -> Location:
        return await self.assets.locate(record.asset_key(relative), ttl=self.presign_ttl)

    async def original(self, upload_id: str) -> DecryptedObject | None:
        """The decrypted kept original of a ready asset (the tus download port); None before."""
        record = await self.records.get(upload_id)
        if record is None or record.state is not MediaState.READY or not record.original:
            return None
        return await self.open(record, record.original)
