"""HLS AES-128 (RFC 8216 section 4.3.2.4): what hls.js, Safari and ExoPlayer decrypt themselves.

Each segment is AES-128-CBC with PKCS#7 padding under the asset's 16-byte content key, with
its own IV. The IV is written into the playlist (``#EXT-X-KEY:…,IV=0x…``), so the ciphertext
is the same for every viewer and a CDN can cache it; only the key URI is per-viewer (signed).

``segment_iv(n)`` is the media sequence number as a 128-bit big-endian integer, exactly the
IV a player assumes when a playlist omits ``IV``. Renditions share one content key, so each
gets its own ``stream`` number in the top 64 bits: no (key, IV) pair is ever used twice.

HLS AES-128 protects confidentiality only: CBC has no tag, and a flipped ciphertext byte
garbles the player's output rather than failing. docs/encryption.md says what follows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .keys import CryptoError

KEY_SIZE = 16
IV_SIZE = 16
_URI_ATTR = re.compile(r'URI="([^"]*)"')


class SegmentError(CryptoError):
    """A segment does not decrypt to validly padded plaintext (wrong key or IV, or damage)."""


def _check(key: bytes, iv: bytes) -> None:
    if len(key) != KEY_SIZE or len(iv) != IV_SIZE:
        raise ValueError("HLS AES-128 needs a 16-byte key and a 16-byte IV")


def encrypt_segment(data: bytes, key: bytes, iv: bytes) -> bytes:
    _check(key, iv)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt_segment(data: bytes, key: bytes, iv: bytes) -> bytes:
    _check(key, iv)
    if not data or len(data) % 16:
        raise SegmentError("an AES-128 segment is a non-empty multiple of 16 bytes")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise SegmentError("bad padding: wrong key or IV, or a damaged segment") from None


def segment_iv(sequence_number: int, *, stream: int = 0) -> bytes:
    """IV of segment ``sequence_number`` of rendition ``stream`` (0 gives the HLS default IV)."""
    if not 0 <= sequence_number < 2**64 or not 0 <= stream < 2**64:
        raise ValueError("sequence number and stream are unsigned 64-bit integers")
    return (stream << 64 | sequence_number).to_bytes(IV_SIZE, "big")


def key_tag(key_uri: str, iv: bytes | None = None) -> str:
    """The ``#EXT-X-KEY`` line; without ``iv`` players use the media sequence number."""
    if '"' in key_uri or "\n" in key_uri or "\r" in key_uri:
        raise ValueError("a key URI cannot contain quotes or line breaks")
    tag = f'#EXT-X-KEY:METHOD=AES-128,URI="{key_uri}"'
    if iv is not None:
        if len(iv) != IV_SIZE:
            raise ValueError("an IV is 16 bytes")
        tag += f",IV=0x{iv.hex().upper()}"
    return tag


def rewrite_media_playlist(
    text: str,
    key_uri: str,
    iv_for_index: Callable[[int], bytes] | None,
    segment_uri_for: Callable[[str], str],
) -> str:
    """The playlist a player is served: ``#EXT-X-KEY`` added and every URI rewritten.

    ``iv_for_index(n)`` gets the media sequence number of each segment (its index when the
    playlist starts at 0) and returns its IV: a tag with an explicit IV precedes every segment.
    With ``None``, one tag without IV precedes the first segment and players derive each IV
    from the media sequence number. ``segment_uri_for`` maps each segment (and ``EXT-X-MAP``)
    URI as written by the packager to the URI to serve, typically a signed URL. Existing
    ``EXT-X-KEY`` tags are replaced; byte-range playlists are not supported.
    """
    lines = [line.rstrip() for line in text.splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an M3U8 playlist")
    if any(line.startswith(("#EXT-X-STREAM-INF", "#EXT-X-BYTERANGE")) for line in lines):
        raise ValueError("expected a media playlist without byte ranges")
    out: list[str] = []
    block: list[str] = []  # tags since the previous segment URI: they belong to the next one
    sequence, first = 0, True
    for line in lines:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        if not line or line.startswith("#EXT-X-KEY:"):
            continue
        if line.startswith("#EXT-X-MAP:"):
            line = _URI_ATTR.sub(lambda m: f'URI="{_quotable(segment_uri_for(m.group(1)))}"', line)
        if line.startswith("#"):
            block.append(line)
            continue
        if iv_for_index is not None or first:
            at = next((i for i, tag in enumerate(block) if tag.startswith("#EXTINF")), len(block))
            block.insert(at, key_tag(key_uri, iv_for_index(sequence) if iv_for_index else None))
        out += [*block, segment_uri_for(line)]
        block, sequence, first = [], sequence + 1, False
    out += block  # trailing tags such as #EXT-X-ENDLIST
    if iv_for_index is not None:
        _require_version(out, 2)  # the IV attribute needs protocol version 2
    return "\n".join(out) + "\n"


def _quotable(uri: str) -> str:
    if '"' in uri or "\n" in uri:
        raise ValueError("a URI cannot contain quotes or line breaks")
    return uri


def _require_version(lines: list[str], minimum: int) -> None:
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-VERSION:"):
            if int(line.split(":", 1)[1]) < minimum:
                lines[i] = f"#EXT-X-VERSION:{minimum}"
            return
    lines.insert(1, f"#EXT-X-VERSION:{minimum}")
