"""How one asset's outputs are encrypted: the rules the publish step and delivery share.

* One 32-byte data key per asset (per published attempt), stored only wrapped by the KEK with
  the context ``{"asset": upload_id}``. Two subkeys come from it with HKDF: the envelope key
  (AES-256-GCM, every stored object but segments) and the 16-byte HLS key (AES-128 segments,
  the only key a player ever receives).
* Segment IVs: ``segment_iv(sequence number, stream = rendition index + 1)``, so no (key, IV)
  pair repeats across renditions; media playlists carry them as ``IV=0x...``.
* The envelope object id of an output is ``<upload_id>/<name relative to the attempt>``: a
  stored object moved to another name or asset fails to decrypt.

Sync and pure (files in, files out): ``seal_output`` runs in a worker thread.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import m3u8

from .crypto.access import encrypt_file
from .crypto.keys import derive_key
from .crypto.segments import encrypt_segment, rewrite_media_playlist, segment_iv

PLACEHOLDER_KEY_URI = "key-uri-is-signed-at-delivery"  # stored playlists name no usable key
SEGMENT_SUFFIXES = (".ts", ".m4s", ".aac")


def asset_context(upload_id: str) -> dict[str, str]:
    """The KEK wrapping context of an asset's data key."""
    return {"asset": upload_id}


@dataclass(frozen=True)
class AssetKeys:
    upload_id: str
    envelope: bytes
    hls: bytes

    @classmethod
    def from_data_key(cls, upload_id: str, data_key: bytes) -> AssetKeys:
        return cls(upload_id, derive_key(data_key, purpose="envelope"), derive_key(data_key, purpose="hls", length=16))

    def object_id(self, relative: str) -> str:
        return f"{self.upload_id}/{relative}"

    def __repr__(self) -> str:  # never the key bytes
        return f"AssetKeys({self.upload_id!r})"


def iv_stream(rendition_index: int) -> int:
    return rendition_index + 1


def media_sequence_uris(text: str) -> list[tuple[int, str]]:
    """(media sequence number, URI) of every segment of a media playlist."""
    return [(segment.media_sequence, segment.uri) for segment in m3u8.loads(text).segments]


@dataclass
class SealPlan:
    """What to do with each output file (names relative to the output folder)."""

    segment_ivs: dict[str, bytes]  # segment -> its IV
    playlist_streams: dict[str, int]  # media playlist -> its IV stream

    @classmethod
    def for_outputs(cls, out_dir: Path, playlists: list[str]) -> SealPlan:
        """``playlists``: the media playlists in rendition order (their index picks the IV stream)."""
        ivs: dict[str, bytes] = {}
        streams: dict[str, int] = {}
        for index, playlist in enumerate(playlists):
            stream = iv_stream(index)
            streams[playlist] = stream
            base = playlist.rsplit("/", 1)[0] + "/" if "/" in playlist else ""
            for sequence, uri in media_sequence_uris((out_dir / playlist).read_text()):
                if "/" in uri or uri.startswith(".") or not re.fullmatch(r"[\w.\-]+", uri):
                    raise ValueError(f"unexpected segment URI {uri!r} in {playlist}")
                ivs[base + uri] = segment_iv(sequence, stream=stream)
        return cls(ivs, streams)


def keyed_playlist(text: str, stream: int) -> str:
    """The media playlist as stored: ``#EXT-X-KEY`` with each segment's IV and a placeholder URI."""
    return rewrite_media_playlist(text, PLACEHOLDER_KEY_URI, lambda n: segment_iv(n, stream=stream), lambda uri: uri)


def seal_output(keys: AssetKeys, relative: str, src: Path, dst: Path, plan: SealPlan, *, frame_size: int) -> int:
    """Encrypt one output into ``dst``: segments with HLS AES-128, the rest (playlists with their
    key tags added first) with the envelope. Returns the stored size. Streams large files."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if relative in plan.segment_ivs:
        dst.write_bytes(encrypt_segment(src.read_bytes(), keys.hls, plan.segment_ivs[relative]))
        return dst.stat().st_size
    if relative.endswith(SEGMENT_SUFFIXES):
        raise ValueError(f"segment {relative} is in no media playlist: refusing to store it")
    if relative in plan.playlist_streams:
        keyed = dst.with_name(dst.name + ".keyed")
        keyed.write_text(keyed_playlist(src.read_text(), plan.playlist_streams[relative]))
        try:
            return encrypt_file(keyed, dst, keys.envelope, keys.object_id(relative), frame_size=frame_size)
        finally:
            os.unlink(keyed)
    return encrypt_file(src, dst, keys.envelope, keys.object_id(relative), frame_size=frame_size)
