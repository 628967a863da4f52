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

from collections.abc import Callable

import m3u8
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .keys import CryptoError

KEY_SIZE = 16
IV_SIZE = 16


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


def _key(key_uri: str, iv: bytes | None) -> m3u8.Key:
    """The AES-128 ``EXT-X-KEY`` of ``key_uri``; without ``iv`` players use the media sequence number."""
    _quotable(key_uri)
    if iv is not None and len(iv) != IV_SIZE:
        raise ValueError("an IV is 16 bytes")
    return m3u8.Key(method="AES-128", base_uri=None, uri=key_uri, iv=None if iv is None else f"0x{iv.hex().upper()}")


def key_tag(key_uri: str, iv: bytes | None = None) -> str:
    """The ``#EXT-X-KEY`` line; without ``iv`` players use the media sequence number."""
    return str(_key(key_uri, iv))


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
    ``EXT-X-KEY`` tags are replaced; byte-range playlists are not supported. The key tag
    precedes a segment's ``EXT-X-MAP``, so it applies to the initialization section too
    (RFC 8216 section 4.3.2.5). Tags the m3u8 library does not model, and comments, are dropped.
    """
    head = text.splitlines()[:1]
    if not head or head[0].rstrip() != "#EXTM3U":
        raise ValueError("not an M3U8 playlist")
    playlist = m3u8.loads(text)
    if playlist.is_variant or any(segment.byterange for segment in playlist.segments):
        raise ValueError("expected a media playlist without byte ranges")
    for segment in playlist.segments:
        # equal keys are written once: without IVs, one tag before the first segment
        segment.key = _key(key_uri, iv_for_index(segment.media_sequence) if iv_for_index else None)
        segment.uri = segment_uri_for(segment.uri)
        if segment.init_section is not None:
            segment.init_section.uri = _quotable(segment_uri_for(segment.init_section.uri))
    if iv_for_index is not None and (playlist.version or 1) < 2:
        playlist.version = 2  # the IV attribute needs protocol version 2
    dumped: str = playlist.dumps()
    return dumped


def _quotable(uri: str) -> str:
    if '"' in uri or "\n" in uri or "\r" in uri:
        raise ValueError("a URI cannot contain quotes or line breaks")
    return uri
