"""Synthetic test media, made with PyAV from FFmpeg's lavfi sources (no binaries committed).

``make_clip`` writes a short clip; ``CLIPS`` names the ones the tests use, and
``ClipStore`` makes each at most once per test session, whichever module asks first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av


@dataclass(frozen=True)
class Clip:
    """What to generate. ``rotation`` is the clockwise display rotation (a phone's tag)."""

    filename: str
    width: int = 1280
    height: int = 720
    seconds: float = 2.0
    fps: int = 30
    vcodec: str | None = "libx264"
    pix_fmt: str = "yuv420p"
    acodec: str | None = "aac"
    sample_rate: int = 48_000
    rotation: int = 0
    vfr: bool = False
    dupes: bool = False  # with vfr: every 10th frame repeats the previous timestamp
    marker: bool = False  # black picture with a white top-left quarter: shows orientation
    graph: str = ""  # a custom lavfi video source ({size}, {fps} and {seconds} are filled in)
    options: tuple[tuple[str, str], ...] = (("preset", "ultrafast"),)
    muxer_options: tuple[tuple[str, str], ...] = ()


CLIPS: dict[str, Clip] = {
    "1080p": Clip("1080p.mp4", 1920, 1080),
    # 4K kept small: one second at 10 frames per second still gets every rung of the ladder
    "2160p": Clip("2160p.mp4", 3840, 2160, seconds=1.0, fps=10),
    "720p": Clip("720p.mp4", 1280, 720, seconds=3.0),
    "odd": Clip("odd.mkv", 1279, 719, vcodec="mpeg4", options=()),
    "portrait": Clip("portrait.mp4", 720, 1280),
    "rotated": Clip("rotated.mp4", 1280, 720, rotation=90, marker=True),
    "no_audio": Clip("no_audio.mp4", 640, 360, acodec=None),
    "audio_only": Clip("audio_only.m4a", vcodec=None, sample_rate=44_100, seconds=3.0),
    "mp3": Clip("audio.mp3", vcodec=None, acodec="libmp3lame", sample_rate=44_100),
    "vfr": Clip("vfr.mkv", 640, 360, vfr=True, seconds=3.0),
    # intra-only MJPEG in Matroska, which accepts repeated timestamps (x264 would refuse them)
    "dupes": Clip(
        "dupes.mkv", 320, 240, vcodec="mjpeg", pix_fmt="yuvj420p", acodec=None, vfr=True, dupes=True, options=()
    ),
    "10bit": Clip("10bit.mp4", 640, 360, pix_fmt="yuv420p10le"),
    "444": Clip("444.mp4", 640, 360, pix_fmt="yuv444p"),
    "webm": Clip("vp9.webm", 640, 360, vcodec="libvpx-vp9", acodec="libopus", options=(("deadline", "realtime"),)),
    "small": Clip("small.mp4", 320, 240, acodec=None),
    # luma = 100 * t: a still's brightness tells the time it was taken at; a keyframe every 10 frames
    "ramp": Clip(
        "ramp.mp4",
        320,
        240,
        acodec=None,
        graph="color=c=black:s={size}:r={fps}:d={seconds},format=yuv420p,geq=lum='min(255,100*T)':cb=128:cr=128",
        options=(("preset", "ultrafast"), ("g", "10")),
    ),
    "faststart": Clip("faststart.mp4", 640, 360, seconds=4.0, muxer_options=(("movflags", "faststart"),)),
}


def _video_source(clip: Clip) -> Iterator[Any]:
    size = f"{clip.width}x{clip.height}"
    if clip.graph:
        graph = clip.graph.format(size=size, fps=clip.fps, seconds=clip.seconds)
    elif clip.marker:
        graph = f"color=c=black:s={size}:r={clip.fps}:d={clip.seconds},drawbox=x=0:y=0:w=iw/4:h=ih/4:c=white:t=fill"
    else:
        graph = f"testsrc2=s={size}:r={clip.fps}:d={clip.seconds}"
    with av.open(graph, format="lavfi") as source:
        yield from source.decode(video=0)


def _audio_source(clip: Clip) -> Iterator[Any]:
    graph = f"sine=frequency=440:sample_rate={clip.sample_rate}:duration={clip.seconds}"
    with av.open(graph, format="lavfi") as source:
        yield from source.decode(audio=0)


def vfr_times(seconds: float, dupes: bool = False) -> Iterator[Fraction]:
    """Irregular frame times: gaps of 20 and 80 ms in turn (20 fps on average, tagged 30), so
    x264's frame-counted GOP (30 frames = 1.5 s) misses 1 s boundaries unless keyframes are forced."""
    t, gaps, i = Fraction(0), (Fraction(20, 1000), Fraction(80, 1000)), 0
    while t < seconds:
        yield t
        if dupes and i % 10 == 9:
            yield t
        t += gaps[i % 2]
        i += 1


def make_clip(path: str, clip: Clip) -> str:
    with av.open(path, "w", options=dict(clip.muxer_options)) as out:
        video = audio = None
        if clip.vcodec:
            video = out.add_stream(clip.vcodec, rate=clip.fps, options=dict(clip.options))
            video.width, video.height, video.pix_fmt = clip.width, clip.height, clip.pix_fmt
            if clip.vfr:
                video.codec_context.time_base = Fraction(1, 1000)
            if clip.rotation:
                video.set_display_rotation(-clip.rotation)  # PyAV takes counter-clockwise degrees
        if clip.acodec:
            audio = out.add_stream(clip.acodec, rate=clip.sample_rate)
            audio.layout = "stereo"
        sound = _audio_source(clip) if audio is not None else iter(())
        pending = next(sound, None)
        frames = _video_source(clip) if video is not None else iter(())
        times = vfr_times(clip.seconds, clip.dupes) if clip.vfr else None
        sent = 0
        for frame in frames:
            now = frame.time
            if video is not None:
                picture = frame.reformat(format=clip.pix_fmt)
                if times is not None:
                    stamp = next(times, None)
                    if stamp is None:
                        break
                    picture.pts, picture.time_base, now = int(stamp * 1000), Fraction(1, 1000), float(stamp)
                else:
                    picture.pts, picture.time_base = frame.pts, frame.time_base
                if clip.dupes:  # encoders refuse repeated pts: stamp the (intra-only) packets instead
                    wanted, picture.pts = picture.pts, sent
                    sent += 1
                    for packet in video.encode(picture):
                        packet.pts = packet.dts = wanted
                        out.mux(packet)
                    continue
                out.mux(video.encode(picture))
            while pending is not None and audio is not None and pending.time <= now:  # keep A/V interleaved
                out.mux(audio.encode(pending))
                pending = next(sound, None)
        while pending is not None and audio is not None:
            out.mux(audio.encode(pending))
            pending = next(sound, None)
        for stream in (video, audio):
            if stream is not None:
                out.mux(stream.encode(None))
    return path


def truncated_copy(good: str, path: str) -> str:
    """The first half of ``good``: an upload cut off mid-way."""
    with open(good, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    return path


def text_file(path: str) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("This is a text file, not a video.\n" * 50)
    return path


class ClipStore:
    """Makes each named clip once, on first use, under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, name: str) -> str:
        if name == "truncated":
            return self._once("truncated.mp4", lambda p: truncated_copy(self.path("720p"), p))
        if name == "truncated_faststart":  # the index survives, the second half of the data does not
            return self._once("truncated_faststart.mp4", lambda p: truncated_copy(self.path("faststart"), p))
        if name == "text":
            return self._once("text.mp4", text_file)
        clip = CLIPS[name]
        return self._once(clip.filename, lambda p: make_clip(p, clip))

    def _once(self, filename: str, make: Any) -> str:
        path = os.path.join(self.root, filename)
        if not os.path.exists(path):
            make(path + ".part" + os.path.splitext(filename)[1])
            os.replace(path + ".part" + os.path.splitext(filename)[1], path)
        return path


_STORES: dict[int, ClipStore] = {}


def clip_store(tmp_path_factory: Any) -> ClipStore:
    """One store per pytest session, shared by every module that asks for clips."""
    key = id(tmp_path_factory)
    if key not in _STORES:
        _STORES[key] = ClipStore(str(tmp_path_factory.mktemp("media")))
    return _STORES[key]
