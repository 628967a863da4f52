"""Poster and thumbnails: JPEG stills of the upright picture, found by seeking.

The poster is at 10% of the duration (past most black intros) at the size of the top
rendition; ``count`` thumbnails are spread evenly over the duration (never at the very start
or end) and fit in a 320x320 box. Each still costs one seek plus the decode of at most one
GOP, so this does not depend on the duration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
import av.stream

from .frames import Rotator
from .ladder import even
from .probe import NotMediaError, ProbeResult, media_errors

POSTER = "poster.jpg"
POSTER_AT = 0.10
POSTER_SHORT_SIDE = 1080
THUMB_BOX = 320
_JPEG_OPTIONS = {"qscale": 3}  # mjpeg quality scale: 2 (best) .. 31


@dataclass
class ThumbResult:
    poster: str  # relative to out_dir; "" for audio-only sources
    thumbnails: list[str] = field(default_factory=list)
    width: int = 0  # poster size
    height: int = 0
    thumb_width: int = 0
    thumb_height: int = 0


def poster_size(width: int, height: int) -> tuple[int, int]:
    """The display size, shrunk so the short side is at most 1080 (as the top rendition)."""
    scale = min(1.0, POSTER_SHORT_SIDE / max(1, min(width, height)))
    return even(width * scale), even(height * scale)


def thumb_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, THUMB_BOX / max(1, width, height))
    return even(width * scale), even(height * scale)


def still_times(duration: float, count: int) -> tuple[float, list[float]]:
    """(poster time, thumbnail times) in seconds from the start."""
    return duration * POSTER_AT, [duration * (i + 1) / (count + 1) for i in range(count)]


def make_thumbnails(src: str, out_dir: str, probed: ProbeResult, count: int = 4) -> ThumbResult:
    """Write ``poster.jpg`` and ``thumb_{i}.jpg`` (i from 0) under ``out_dir``."""
    if not probed.has_video:
        return ThumbResult(poster="")
    os.makedirs(out_dir, exist_ok=True)
    poster_at, thumb_at = still_times(probed.duration, max(0, count))
    big = poster_size(probed.width, probed.height)
    small = thumb_size(probed.width, probed.height)
    with media_errors(src), av.open(src, metadata_errors="ignore") as container:
        grabber = _Grabber(container, Rotator(probed.rotation))
        _save(grabber.at(poster_at), big, os.path.join(out_dir, POSTER))
        names = []
        for i, when in enumerate(thumb_at):
            names.append(f"thumb_{i}.jpg")
            _save(grabber.at(when), small, os.path.join(out_dir, names[-1]))
    return ThumbResult(POSTER, names, *big, *small)


def _save(frame: Any, size: tuple[int, int], path: str) -> None:
    still = frame.reformat(size[0], size[1], "yuvj420p", interpolation="BICUBIC")
    still.pts = None
    still.save(path, **_JPEG_OPTIONS)


class _Grabber:
    """Finds the first frame at or after a time, turned upright."""

    def __init__(self, container: Any, rotator: Rotator) -> None:
        self.container, self.rotator = container, rotator
        self.stream = next(s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic)
        self.stream.thread_type = "AUTO"
        start = container.start_time
        self.start = start / av.time_base if start is not None else 0.0

    def at(self, seconds: float) -> Any:
        target = self.start + seconds
        try:
            self.container.seek(int(max(0.0, target) * av.time_base), backward=True)
        except av.error.FFmpegError:  # unseekable input: decode from the start instead
            self.container.seek(0)
        frame = self._first_from(target)
        if frame is None:  # seeked past the last keyframe's frames: take the first frame
            self.container.seek(0)
            frame = self._first_from(0.0)
        if frame is None:
            raise NotMediaError("truncated or corrupt media: no decodable video frame for the poster")
        return self.rotator(frame)

    def _first_from(self, target: float) -> Any | None:
        last = None
        for frame in self.container.decode(self.stream):
            last = frame
            if frame.time is None or frame.time >= target - 1e-3:
                return frame
        return last
