"""``transcode_hls``: decode the source once, encode every rendition from the same frames.

Per decoded video frame: turn it upright, then for each rendition reformat (swscale) to its
size in yuv420p and hand it to that rendition's libx264. Keyframes are forced at every
multiple of ``segment_seconds`` of source time, so segment N of every rendition covers the
same span and players switch cleanly. Audio is decoded, resampled and AAC-encoded once.
Frames are streamed: memory depends on the encoders' lookahead, not on the duration.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
import av.stream
from av.video.frame import PictureType

from .frames import Rotator
from .ladder import AAC_LC_CODEC, LadderSettings, Rendition
from .outputs import PLAYLIST, TS_TIME_BASE, AudioFanout, HlsOutput, aac_rate
from .playlists import Variant, bandwidths, fix_last_duration, read_media_playlist, write_master
from .probe import NotMediaError, ProbeResult, media_errors

_MAX_DECODE_ERRORS = 25  # a few damaged packets are concealed, like the ffmpeg CLI does
_INTERPOLATION = "BICUBIC"  # swscale's default in ffmpeg's scale filter


@dataclass
class HlsResult:
    master_playlist: str  # "master.m3u8", relative to out_dir
    renditions: list[dict[str, Any]] = field(default_factory=list)
    audio_only: bool = False
    duration: float = 0.0
    segments: list[str] = field(default_factory=list)  # every segment, relative to out_dir


class _DecodeLoop:
    """The decode loop: one source in, every rendition out."""

    def __init__(
        self,
        container: Any,
        out_dir: str,
        probe: ProbeResult,
        ladder: list[Rendition],
        settings: LadderSettings,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.container, self.probe, self.ladder, self.progress = container, probe, ladder, progress
        self.segment = settings.segment_seconds
        videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        self.vstream = videos[0] if ladder and videos else None
        self.astream = container.streams.audio[0] if container.streams.audio else None
        if self.vstream is None and self.astream is None:
            raise NotMediaError("not a media file: no audio or video stream")
        for stream in (self.vstream, self.astream):
            if stream is not None:
                stream.thread_type = "AUTO"
        start = container.start_time
        self.start = start / av.time_base if start is not None else 0.0
        rate = aac_rate(self.astream.codec_context.sample_rate) if self.astream is not None else 0
        self.outputs: list[HlsOutput] = []
        if self.vstream is not None:
            for r in ladder:
                self.outputs.append(HlsOutput(out_dir, r.name, settings, r, probe.fps, rate))
        else:
            self.outputs.append(HlsOutput(out_dir, "audio", settings, audio_rate=rate))
        self.audio = AudioFanout(self.outputs, rate, self.start) if rate else None
        self.rotator = Rotator(probe.rotation)
        self.first_pts = -1
        self.last_pts = -1
        self.last_gap = round(1 / max(probe.fps, 1.0) / TS_TIME_BASE)  # shown time of the final frame
        self.next_key = 0.0
        self.decoded_until = 0.0
        self.shown = -1
        self.errors = 0

    def run(self) -> None:
        streams = [s for s in (self.vstream, self.astream) if s is not None]
        for packet in self.container.demux(streams):
            is_video = packet.stream is self.vstream
            for frame in self._decode(packet):
                if is_video:
                    self._video(frame)
                elif self.audio is not None:
                    self.audio.feed(frame)
                    if self.vstream is None and frame.time is not None:
                        self._advance(frame.time - self.start + frame.samples / frame.sample_rate)
        if self.audio is not None:
            self.audio.feed(None)
        self._check_complete()
        for output in self.outputs:
            output.close()
            if self.vstream is not None:
                shown = (self.last_pts + self.last_gap - self.first_pts) * TS_TIME_BASE
                fix_last_duration(os.path.join(output.dir, PLAYLIST), float(shown))
        self._report(100.0)

    def _decode(self, packet: Any) -> list[Any]:
        try:
            return list(packet.decode())
        except (av.error.InvalidDataError, av.error.UndefinedError, av.error.PatchWelcomeError) as exc:
            self.errors += 1
            if self.errors > _MAX_DECODE_ERRORS:
                raise NotMediaError(f"truncated or corrupt media: {self.errors} undecodable packets ({exc})") from exc
            return []

    def _video(self, frame: Any) -> None:
        if frame.time is not None:
            rel = frame.time - self.start
        else:  # no timestamp: the slot after the previous frame
            rel = float(max(0, self.last_pts + self.last_gap) * TS_TIME_BASE)
        pts = max(0, round(rel / TS_TIME_BASE))
        if pts <= self.last_pts:
            return  # duplicate or out-of-order timestamp (VFR sources): keep pts increasing
        if self.first_pts < 0:
            self.first_pts = pts
        else:
            self.last_gap = pts - self.last_pts
        self.last_pts = pts
        # The first frame at/after each boundary starts a GOP in every rendition. Boundaries
        # count from the first video frame: the hls muxer counts from its first packet, which
        # is never later, so each forced keyframe is where it cuts.
        since = float((pts - self.first_pts) * TS_TIME_BASE)
        key = since >= self.next_key - 1e-6
        if key:
            self.next_key = (math.floor(since / self.segment + 1e-6) + 1) * self.segment
        upright = self.rotator(frame)
        kind = PictureType.I if key else PictureType.NONE  # never inherit the source's frame types
        for output, r in zip(self.outputs, self.ladder, strict=True):
            scaled = output.scaler.reformat(upright, r.width, r.height, "yuv420p", interpolation=_INTERPOLATION)
            scaled.pts, scaled.time_base, scaled.pict_type = pts, TS_TIME_BASE, kind
            output.encode(scaled)
        self._advance(rel + 1.0 / max(self.probe.fps, 1.0))

    def _advance(self, seconds: float) -> None:
        self.decoded_until = max(self.decoded_until, seconds)
        if self.probe.duration > 0:
            self._report(min(99.0, 100.0 * seconds / self.probe.duration))

    def _report(self, percent: float) -> None:
        whole = int(percent)
        if self.progress is not None and whole > self.shown:  # at most ~100 calls per job
            self.shown = whole
            self.progress(float(whole))

    def _check_complete(self) -> None:
        if self.vstream is not None and self.last_pts < 0:
            raise NotMediaError("truncated or corrupt media: no decodable video frames")
        expected = self.probe.duration
        if expected - self.decoded_until > max(1.0, 0.2 * expected):
            raise NotMediaError(
                f"truncated or corrupt media: decoded {self.decoded_until:.1f}s of the {expected:.1f}s it declares"
            )

    def abort(self) -> None:
        for output in self.outputs:
            with contextlib.suppress(Exception):  # already failing; the caller discards out_dir
                output.container.close()


def transcode_hls(
    src: str,
    out_dir: str,
    probe: ProbeResult,
    ladder: list[Rendition],
    settings: LadderSettings,
    progress: Callable[[float], None] | None = None,
) -> HlsResult:
    """Write the HLS ladder of ``src`` under ``out_dir``; ``progress`` gets percent 0..100.

    Raises :class:`NotMediaError` when the source turns out truncated or corrupt while decoding.
    """
    os.makedirs(out_dir, exist_ok=True)
    with media_errors(src), av.open(src, metadata_errors="ignore") as container:
        decoding = _DecodeLoop(container, out_dir, probe, ladder, settings, progress)
        try:
            decoding.run()
        except BaseException:
            decoding.abort()
            raise
    video = decoding.vstream is not None
    codecs = [o.codec for o in decoding.outputs] if video else []
    return _result(out_dir, probe, ladder if video else [], codecs, decoding.astream is not None)


def _result(
    out_dir: str, probe: ProbeResult, ladder: list[Rendition], video_codecs: list[str], has_audio: bool
) -> HlsResult:
    names = [r.name for r in ladder] or ["audio"]
    variants: list[Variant] = []
    renditions: list[dict[str, Any]] = []
    all_segments: list[str] = []
    duration = 0.0
    for i, name in enumerate(names):
        playlist = f"{name}/{PLAYLIST}"
        segments = read_media_playlist(os.path.join(out_dir, playlist))
        peak, average = bandwidths(segments)
        r = ladder[i] if ladder else None
        codecs = [video_codecs[i]] if r else []
        codecs += [AAC_LC_CODEC] if has_audio else []
        width, height, fps = (r.width, r.height, probe.fps) if r else (0, 0, 0.0)
        variant = Variant(playlist, peak, average, ",".join(codecs), width, height, fps)
        variants.append(variant)
        paths = [f"{name}/{s.uri}" for s in segments]
        all_segments += paths
        duration = duration or sum(s.duration for s in segments)
        renditions.append(
            {
                "name": name,
                "width": variant.width,
                "height": variant.height,
                "bandwidth": peak,
                "average_bandwidth": average,
                "codecs": variant.codecs,
                "playlist": playlist,
                "segments": paths,
            }
        )
    master = write_master(out_dir, variants)
    return HlsResult(master, renditions, not ladder, round(duration, 3), all_segments)
