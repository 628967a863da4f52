"""Chunked AES-256-GCM for every stored object that is not an HLS segment (originals,
thumbnails, poster, manifest). The byte layout is specified in docs/encryption.md; in short::

    header (25 bytes)  magic "TPYE" | version 1 | flags | frame size u32 | nonce prefix (7) | length u64
    frame i            AES-256-GCM(plaintext[i*F:(i+1)*F]) || tag (16)

* frame nonce = nonce prefix || i (u32 big-endian) || last-frame flag (1 byte);
* frame AAD   = header || len(object id) u16 || object id (UTF-8) || i (u32) || last-frame flag;
* every frame but the last holds exactly F plaintext bytes; the last holds fewer (possibly none),
  so an object whose length is a multiple of F ends with an empty, tag-only frame.

Because the last frame is always short, the ciphertext length alone tells where frames end,
a streaming decryptor can release a full frame at once, and dropping whole frames is caught
(the stream then ends on a full, non-last frame). Bit flips, truncation, reordering and
swapping frames between objects (even under one key) all fail a tag: ``IntegrityError``.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import CryptoError

MAGIC: Final = b"TPYE"
VERSION: Final = 1
TAG_SIZE: Final = 16
PREFIX_SIZE: Final = 7
DEFAULT_FRAME_SIZE: Final = 64 * 1024
MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
_MAX_FRAMES: Final = 2**32  # the frame index is a u32 in the nonce
_FLAG_LENGTH: Final = 0x01
_HEADER: Final = struct.Struct(">4sBBI7sQ")
HEADER_SIZE: Final = _HEADER.size  # 25
_FRAME: Final = struct.Struct(">IB")  # frame index, last-frame flag: in the nonce and the AAD


class IntegrityError(CryptoError):
    """The ciphertext was altered, truncated, reordered, or belongs to another object or key."""


@dataclass(frozen=True, slots=True)
class Header:
    frame_size: int
    nonce_prefix: bytes
    plaintext_length: int | None = None

    def pack(self) -> bytes:
        flags = _FLAG_LENGTH if self.plaintext_length is not None else 0
        return _HEADER.pack(MAGIC, VERSION, flags, self.frame_size, self.nonce_prefix, self.plaintext_length or 0)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> Header:
        if len(data) < HEADER_SIZE:
            raise IntegrityError("truncated envelope header")
        magic, version, flags, frame_size, prefix, length = _HEADER.unpack(data[:HEADER_SIZE])
        if magic != MAGIC or version != VERSION or flags & ~_FLAG_LENGTH:
            raise IntegrityError("not a tusd-py envelope (bad magic, version or flags)")
        if not 1 <= frame_size <= MAX_FRAME_SIZE:
            raise IntegrityError(f"bad frame size {frame_size}")
        return cls(frame_size, prefix, length if flags & _FLAG_LENGTH else None)


def _check_frame_size(frame_size: int) -> None:
    if not 1 <= frame_size <= MAX_FRAME_SIZE:
        raise ValueError(f"frame size must be 1..{MAX_FRAME_SIZE}, not {frame_size}")


def ciphertext_size(plaintext_len: int, frame_size: int = DEFAULT_FRAME_SIZE) -> int:
    """Size of the stored object for ``plaintext_len`` bytes (there is always a short last frame)."""
    return HEADER_SIZE + plaintext_len + TAG_SIZE * (plaintext_len // frame_size + 1)


def plaintext_size(ciphertext_len: int, frame_size: int) -> int:
    """The inverse of ``ciphertext_size``: what a delivery endpoint needs for Content-Length."""
    full, rest = divmod(ciphertext_len - HEADER_SIZE, frame_size + TAG_SIZE)
    if ciphertext_len < HEADER_SIZE + TAG_SIZE or rest < TAG_SIZE:
        raise IntegrityError(f"{ciphertext_len} bytes is not a valid envelope size for frames of {frame_size}")
    return full * frame_size + rest - TAG_SIZE


class _Frames:
    """Nonce and AAD of each frame of one object, and the AEAD that seals/opens them."""

    def __init__(self, key: bytes, object_id: str, header: Header) -> None:
        if len(key) != 32:
            raise ValueError("the envelope needs a 32-byte (AES-256) key")
        oid = object_id.encode()
        if len(oid) > 0xFFFF:
            raise ValueError("object id longer than 65535 bytes")
        self.aead = AESGCM(key)
        self.header = header
        self.prefix = header.nonce_prefix
        self.aad_prefix = header.pack() + len(oid).to_bytes(2, "big") + oid

    def nonce_aad(self, index: int, last: bool) -> tuple[bytes, bytes]:
        if index >= _MAX_FRAMES:
            raise ValueError("object too large for this frame size")
        tail = _FRAME.pack(index, last)
        return self.prefix + tail, self.aad_prefix + tail

    def open_into(self, index: int, last: bool, frame: memoryview, out: memoryview) -> None:
        nonce, aad = self.nonce_aad(index, last)
        try:
            self.aead.decrypt_into(nonce, frame, aad, out)
        except InvalidTag:
            raise IntegrityError(f"frame {index} failed authentication") from None


class Encryptor:
    """Streaming encryption: ``update`` takes plaintext chunks of any size and returns the
    ciphertext of every completed frame (the header comes with the first call); ``finalize``
    returns the short last frame. Pass ``plaintext_length`` when known: it is then recorded
    in the header and enforced."""

    def __init__(
        self, key: bytes, object_id: str, *, frame_size: int = DEFAULT_FRAME_SIZE, plaintext_length: int | None = None
    ) -> None:
        _check_frame_size(frame_size)
        self._frames = _Frames(key, object_id, Header(frame_size, secrets.token_bytes(PREFIX_SIZE), plaintext_length))
        self._size = frame_size
        self._pending = bytearray()  # fewer than frame_size plaintext bytes awaiting their frame
        self._index = 0
        self._fed = 0
        self._header_sent = False
        self._done = False

    @property
    def header(self) -> Header:
        return self._frames.header

    def _seal_into(self, frame: memoryview | bytes | bytearray, out: memoryview, last: bool) -> None:
        nonce, aad = self._frames.nonce_aad(self._index, last)
        self._frames.aead.encrypt_into(nonce, frame, aad, out)
        self._index += 1

    def _start(self, body: int) -> tuple[bytearray, int]:
        head = 0 if self._header_sent else HEADER_SIZE
        out = bytearray(head + body)
        if head:
            out[:HEADER_SIZE] = self._frames.header.pack()
            self._header_sent = True
        return out, head

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        if self._done:
            raise ValueError("update() after finalize()")
        src = memoryview(data).cast("B")
        self._fed += len(src)
        expected = self._frames.header.plaintext_length
        if expected is not None and self._fed > expected:
            raise ValueError(f"more plaintext than the declared {expected} bytes")
        size, step = self._size, self._size + TAG_SIZE
        count = (len(self._pending) + len(src)) // size
        out, pos = self._start(count * step)
        view, taken = memoryview(out), 0
        if count and self._pending:  # complete the carried-over frame: the only plaintext copy
            taken = size - len(self._pending)
            self._pending += src[:taken]
            self._seal_into(self._pending, view[pos : pos + step], last=False)
            self._pending = bytearray()
            pos += step
            count -= 1
        for _ in range(count):  # full frames straight from the caller's buffer
            self._seal_into(src[taken : taken + size], view[pos : pos + step], last=False)
            taken += size
            pos += step
        self._pending += src[taken:]
        return bytes(out)

    def finalize(self) -> bytes:
        if self._done:
            raise ValueError("finalize() called twice")
        self._done = True
        expected = self._frames.header.plaintext_length
        if expected is not None and self._fed != expected:
            raise ValueError(f"declared {expected} plaintext bytes, got {self._fed}")
        out, pos = self._start(len(self._pending) + TAG_SIZE)
        self._seal_into(self._pending, memoryview(out)[pos:], last=True)
        self._pending = bytearray()
        return bytes(out)


class Decryptor:
    """Streaming decryption. Each frame is authenticated before its plaintext is returned;
    a stream cut at a frame boundary is only detectable at ``finalize``, so a consumer must
    call it and treat its ``IntegrityError`` as fatal (abort the response, delete the file)."""

    def __init__(self, key: bytes, object_id: str) -> None:
        if len(key) != 32:
            raise ValueError("the envelope needs a 32-byte (AES-256) key")
        self._key, self._object_id = key, object_id
        self._frames: _Frames | None = None
        self._buf = bytearray()  # the header, then less than one full frame of ciphertext
        self._index = 0
        self._out = 0
        self._done = False

    @property
    def header(self) -> Header | None:
        return self._frames.header if self._frames else None

    def _open(self, frame: memoryview, out: memoryview, last: bool) -> None:
        assert self._frames is not None
        self._frames.open_into(self._index, last, frame, out)
        self._index += 1
        self._out += len(out)
        expected = self._frames.header.plaintext_length
        if expected is not None and (self._out > expected or (last and self._out != expected)):
            raise IntegrityError("plaintext length differs from the header")

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        if self._done:
            raise ValueError("update() after finalize()")
        src = memoryview(data).cast("B")
        if self._frames is None:
            need = HEADER_SIZE - len(self._buf)
            self._buf += src[:need]
            src = src[need:]
            if len(self._buf) < HEADER_SIZE:
                return b""
            self._frames = _Frames(self._key, self._object_id, Header.unpack(self._buf))
            self._buf = bytearray()
        size = self._frames.header.frame_size
        step = size + TAG_SIZE
        count = (len(self._buf) + len(src)) // step  # a full-size frame is never the last one
        out = bytearray(count * size)
        view, taken, pos = memoryview(out), 0, 0
        if count and self._buf:
            taken = step - len(self._buf)
            self._buf += src[:taken]
            self._open(memoryview(self._buf), view[:size], last=False)
            self._buf = bytearray()
            pos, count = size, count - 1
        for _ in range(count):
            self._open(src[taken : taken + step], view[pos : pos + size], last=False)
            taken += step
            pos += size
        self._buf += src[taken:]
        return bytes(out)

    def finalize(self) -> bytes:
        if self._done:
            raise ValueError("finalize() called twice")
        self._done = True
        if self._frames is None or len(self._buf) < TAG_SIZE:
            raise IntegrityError("ciphertext truncated: the last frame is missing")
        out = bytearray(len(self._buf) - TAG_SIZE)
        self._open(memoryview(self._buf), memoryview(out), last=True)
        return bytes(out)


def encrypt_bytes(data: bytes, key: bytes, object_id: str, *, frame_size: int = DEFAULT_FRAME_SIZE) -> bytes:
    enc = Encryptor(key, object_id, frame_size=frame_size, plaintext_length=len(data))
    return b"".join((enc.update(data), enc.finalize()))


def decrypt_bytes(blob: bytes, key: bytes, object_id: str) -> bytes:
    dec = Decryptor(key, object_id)
    return b"".join((dec.update(blob), dec.finalize()))
