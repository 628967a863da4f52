"""Playlists: read back what the hls muxer wrote, measure it, and write the master playlist.

BANDWIDTH is measured, not guessed: RFC 8216 wants the peak segment bit rate, so it is the
largest (segment bytes * 8 / segment seconds) of the rendition; AVERAGE-BANDWIDTH is the
whole rendition's size over its duration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
    segments: list[Segment] = []
    duration: float | None = None
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if line.startswith("#EXTINF:"):
                duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
            elif line and not line.startswith("#") and duration is not None:
                segments.append(Segment(line, duration, os.path.getsize(os.path.join(base, line))))
                duration = None
    return segments


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
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    marks = [i for i, line in enumerate(lines) if line.startswith("#EXTINF:")]
    if not marks:
        return
    earlier = sum(float(lines[i][len("#EXTINF:") :].split(",", 1)[0]) for i in marks[:-1])
    last = max(0.001, total - earlier)
    lines[marks[-1]] = f"#EXTINF:{last:.6f},"
    target = max(round(float(lines[i][len("#EXTINF:") :].split(",", 1)[0])) for i in marks)
    lines = [
        f"#EXT-X-TARGETDURATION:{max(target, int(line.split(':', 1)[1]))}"
        if line.startswith("#EXT-X-TARGETDURATION:")
        else line
        for line in lines
    ]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


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
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        attrs = [f"BANDWIDTH={v.bandwidth}", f"AVERAGE-BANDWIDTH={v.average_bandwidth}"]
        if v.width and v.height:
            attrs.append(f"RESOLUTION={v.width}x{v.height}")
        if v.fps:
            attrs.append(f"FRAME-RATE={v.fps:.3f}")
        attrs.append(f'CODECS="{v.codecs}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), v.playlist]
    return "\n".join(lines) + "\n"


def write_master(out_dir: str, variants: list[Variant]) -> str:
    """Write ``master.m3u8`` atomically; returns its path relative to ``out_dir``."""
    path = os.path.join(out_dir, MASTER)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(master_text(variants))
    os.replace(tmp, path)
    return MASTER
