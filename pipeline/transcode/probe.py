"""Probe: what a file is (video, audio-only, or not media), read with PyAV.

Opening the container is not enough: a text file or a cut mp4 sometimes opens, so the probe
also decodes the first frames. Every FFmpeg failure becomes :class:`NotMediaError` with a
reason a person can read; only a missing file stays a ``FileNotFoundError`` (not a media fault).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import av
import av.error
import av.stream

# Magic numbers of containers we would accept; a file that starts like one but fails to
# open is "truncated or corrupt", anything else is "not a media file".
_MAGIC = (
    b"\x1aE\xdf\xa3",  # Matroska, WebM
    b"RIFF",  # AVI, WAV
    b"OggS",
    b"fLaC",
    b"ID3",  # MP3 (and AAC) behind an ID3v2 tag, which may hold megabytes of cover art
    b"FLV",
    b"\x00\x00\x01\xba",  # MPEG program stream
    b"G",  # MPEG transport stream
    b"\x30\x26\xb2\x75",  # ASF, WMV
    b"FORM",  # AIFF
    b"caff",
    b"#!AMR",
    b"\x06\x0e\x2b\x34",  # MXF
)
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
# FFmpeg looks for the container by running every demuxer's detector over the first 2 KiB,
# 4 KiB, ... up to 1 MiB until one is sure. Media is found in the first few KiB; a file
# that is no media (a PDF, a zip) goes the whole way (docs/benchmarks.md). Files whose
# head matches no magic above are searched in their first 64 KiB only.
_QUICK_SEARCH = 64 * 1024
_DECODE_FRAMES = 3  # enough to prove the codec works, cheap on any size
_DECODE_PACKETS = 500  # give up on a stream that yields nothing for this long
_MAX_FPS = 240.0  # above this a container's rate is a timebase, not a frame rate


NOT_MEDIA = "not a media file"  # the reason's prefix when the file is no media at all (not a broken one)


class NotMediaError(Exception):
    """The input cannot be processed: not media, truncated, corrupt or without streams."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def plain_file(self) -> bool:
        """No media at all (a text, a PDF): nothing to transcode, the file is only stored.
        False for media that is truncated or corrupt, which is a failure."""
        return self.reason.startswith(NOT_MEDIA)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    type: str  # "video" | "audio" | "subtitle" | "data" | ...
    codec: str
    duration: float
    width: int = 0
    height: int = 0
    fps: float = 0.0
    pix_fmt: str | None = None
    sample_rate: int = 0
    channels: int = 0


@dataclass(frozen=True)
class ProbeResult:
    kind: Literal["video", "audio"]
    container: str
    duration: float
    width: int  # display size, after rotation and sample aspect ratio
    height: int
    rotation: int  # clockwise degrees to turn the stored picture upright: 0, 90, 180 or 270
    fps: float
    video_codec: str | None
    audio_codec: str | None
    pix_fmt: str | None
    has_audio: bool
    has_video: bool
    streams: list[StreamInfo] = field(default_factory=list)
    sample_rate: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _looks_like_media(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(16)
    # m2ts: a 4-byte timestamp before each transport packet
    return head[4:8] in _MP4_BOXES or head.startswith(_MAGIC) or head[4:5] == b"G"


def open_options(path: str) -> dict[str, str]:
    """FFmpeg options for opening ``path``: a short container search unless its head looks like media."""
    return {} if _looks_like_media(path) else {"formatprobesize": str(_QUICK_SEARCH)}


def failure_reason(path: str, exc: BaseException) -> str:
    """A readable reason for an FFmpeg failure on ``path``."""
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    detail = detail[:1].lower() + detail[1:]
    try:
        media_like = _looks_like_media(path)
    except OSError:
        media_like = False
    return f"{'truncated or corrupt media' if media_like else 'not a media file'}: {detail}"


@contextmanager
def media_errors(path: str) -> Iterator[None]:
    """Translate FFmpeg errors raised while reading ``path`` into :class:`NotMediaError`."""
    try:
        yield
    except NotMediaError:
        raise
    except FileNotFoundError as exc:  # the file is gone: not a media fault, unless it is still there
        if os.path.exists(path):
            raise NotMediaError(failure_reason(path, exc)) from exc
        raise
    except (av.error.FFmpegError, ValueError, EOFError, IndexError, UnicodeDecodeError) as exc:
        raise NotMediaError(failure_reason(path, exc)) from exc


def clockwise_rotation(ccw: float | int | None) -> int:
    """PyAV reports the display matrix angle counter-clockwise in [-180, 180]; turn it into the
    clockwise quarter turn that makes the picture upright (the phones' ``rotate`` tag)."""
    return round(-(ccw or 0) / 90.0) * 90 % 360


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    return float(value * time_base) if value is not None and time_base is not None else 0.0


def _stream_info(stream: Any) -> StreamInfo:
    ctx = stream.codec_context
    duration = _seconds(stream.duration, stream.time_base)
    if stream.type == "video":
        rate = _frame_rate(stream)
        return StreamInfo(stream.index, "video", ctx.name, duration, ctx.width, ctx.height, rate, ctx.pix_fmt)
    if stream.type == "audio":
        return StreamInfo(stream.index, "audio", ctx.name, duration, sample_rate=ctx.sample_rate, channels=ctx.channels)
    return StreamInfo(stream.index, stream.type, getattr(ctx, "name", "") or "", duration)


def _first_frames(container: Any, stream: Any) -> list[Any]:
    frames: list[Any] = []
    for count, packet in enumerate(container.demux(stream)):
        frames.extend(packet.decode())
        if len(frames) >= _DECODE_FRAMES or count >= _DECODE_PACKETS:
            break
    return frames


def _frame_rate(stream: Any) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) <= _MAX_FPS:
            return float(rate)
    return 0.0


def probe(path: str) -> ProbeResult:
    """Classify ``path`` and read what the ladder needs. Raises :class:`NotMediaError`."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    if os.path.getsize(path) == 0:
        raise NotMediaError("not a media file: the file is empty")
    with media_errors(path), av.open(path, metadata_errors="ignore", options=open_options(path)) as container:
        return _probe_open(path, container)


def _probe_open(path: str, container: Any) -> ProbeResult:
    streams = [_stream_info(s) for s in container.streams]
    video = next((s for s in container.streams.video if not _is_cover_art(s)), None)
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        raise NotMediaError("not a media file: no audio or video stream")
    duration = _seconds(container.duration, Fraction(1, av.time_base))
    duration = duration or max((s.duration for s in streams), default=0.0)
    target: Any = video if video is not None else audio
    target.thread_type = "AUTO"
    frames = _first_frames(container, target)
    if not frames:
        raise NotMediaError(f"truncated or corrupt media: no decodable {target.type} frames")
    if duration <= 0:
        raise NotMediaError("truncated or corrupt media: unknown duration")
    audio_info = next((s for s in streams if audio is not None and s.index == audio.index), None)
    common: dict[str, Any] = dict(
        container=container.format.name,
        duration=duration,
        audio_codec=audio.codec_context.name if audio is not None else None,
        has_audio=audio is not None,
        streams=streams,
        sample_rate=audio_info.sample_rate if audio_info else 0,
    )
    if video is None:
        return ProbeResult(
            kind="audio",
            width=0,
            height=0,
            rotation=0,
            fps=0.0,
            video_codec=None,
            pix_fmt=None,
            has_video=False,
            **common,
        )
    first = frames[0]
    rotation = clockwise_rotation(getattr(first, "rotation", 0))
    width, height = _display_size(first.width, first.height, video.sample_aspect_ratio)
    if rotation in (90, 270):
        width, height = height, width
    info = next(s for s in streams if s.index == video.index)
    return ProbeResult(
        kind="video",
        width=width,
        height=height,
        rotation=rotation,
        fps=info.fps or 25.0,
        video_codec=video.codec_context.name,
        pix_fmt=first.format.name,
        has_video=True,
        **common,
    )


def _is_cover_art(stream: Any) -> bool:
    # mp3/m4a album art shows up as a one-frame mjpeg/png "video" stream
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    if sar and sar > 0 and sar != 1:
        return max(1, round(width * sar)), height
    return width, height
