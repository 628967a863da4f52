"""Playlists: read back what the hls muxer wrote, measure it, and write the master playlist
(all through the m3u8 library).

BANDWIDTH is measured, not guessed: RFC 8216 wants the peak segment bit rate, so it is the
largest (segment bytes * 8 / segment seconds) of the rendition; AVERAGE-BANDWIDTH is the
whole rendition's size over its duration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import m3u8

MASTER = "master.m3u8"
_MIN_PEAK_SECONDS = 1.0  # a tiny last segment would overstate the peak


@dataclass(frozen=True)
class Segment:
    uri: str  # as written in the media playlist (relative to it)
    duration: float
    size: int


def read_media_playlist(path: str) -> list[Segment]:
    """The segments of a VOD media playlist written by FFmpeg's hls muxer."""
    base = os.path.dirname(path)
    return [Segment(s.uri, s.duration, os.path.getsize(os.path.join(base, s.uri))) for s in _load(path).segments]


def bandwidths(segments: list[Segment]) -> tuple[int, int]:
    """(peak, average) bits per second of a rendition."""
    total_seconds = sum(s.duration for s in segments)
    if not segments or total_seconds <= 0:
        return 0, 0
    average = sum(s.size for s in segments) * 8 / total_seconds
    long_enough = [s for s in segments if s.duration >= _MIN_PEAK_SECONDS] or segments
    peak = max(s.size * 8 / max(s.duration, 1e-3) for s in long_enough)
    return round(max(peak, average)), round(average)


def fix_last_duration(path: str, total: float) -> None:
    """Set the last segment's EXTINF so the playlist adds up to ``total`` seconds.

    The hls muxer measures the last segment up to the last packet *in decode order*, which
    with B-frames is not the last frame shown (a VFR tail can lose a third of a second). The
    earlier segments are measured keyframe to keyframe and are exact.
    """
    playlist = _load(path)
    if not playlist.segments:
        return
    *earlier, last = playlist.segments
    last.duration = round(max(0.001, total - sum(s.duration for s in earlier)), 6)
    longest = max(round(s.duration) for s in playlist.segments)
    playlist.target_duration = max(longest, playlist.target_duration or 0)
    _write(path, playlist.dumps())


@dataclass(frozen=True)
class Variant:
    playlist: str  # relative to the master
    bandwidth: int
    average_bandwidth: int
    codecs: str
    width: int = 0
    height: int = 0
    fps: float = 0.0


def master_text(variants: list[Variant]) -> str:
    master = m3u8.M3U8()
    master.version = 3
    master.is_independent_segments = True
    for v in variants:
        info: dict[str, Any] = {"bandwidth": v.bandwidth, "average_bandwidth": v.average_bandwidth, "codecs": v.codecs}
        if v.width and v.height:
            info["resolution"] = f"{v.width}x{v.height}"
        if v.fps:
            info["frame_rate"] = v.fps
        master.add_playlist(m3u8.Playlist(v.playlist, info, media=[], base_uri=None))
    text: str = master.dumps()
    return text


def write_master(out_dir: str, variants: list[Variant]) -> str:
    """Write ``master.m3u8`` atomically; returns its path relative to ``out_dir``."""
    _write(os.path.join(out_dir, MASTER), master_text(variants))
    return MASTER


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return m3u8.loads(fh.read())


def _write(path: str, text: str) -> None:
    """Replace ``path`` atomically: a reader sees the old playlist or the new one."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
