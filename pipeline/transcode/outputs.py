"""HLS outputs: one FFmpeg ``hls`` muxer per rendition, its libx264 encoder, and shared AAC.

Each rendition is a directory ``<name>/index.m3u8`` + ``<name>/seg_00000.ts``. Audio is
encoded once and the same AAC packets are muxed into every rendition (copies, because muxing
takes ownership of a packet's data).
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import av
from av.video.reformatter import VideoReformatter

from .ladder import LadderSettings, Rendition, avc1_codec, avc1_from_annexb, h264_level

TS_TIME_BASE = Fraction(1, 90_000)  # MPEG-TS clock: exact for 24, 25, 30 and 30000/1001 fps
AAC_RATES = (48_000, 44_100, 32_000, 24_000, 22_050, 16_000)
PLAYLIST = "index.m3u8"
SEGMENT_PATTERN = "seg_%05d.ts"


def gop_frames(fps: float, segment_seconds: float) -> int:
    return max(1, round(fps * segment_seconds))


def x264_options(rendition: Rendition, fps: float, settings: LadderSettings) -> dict[str, str]:
    """libx264 options shared with the ffmpeg command line of the benchmark."""
    gop = gop_frames(fps, settings.segment_seconds)
    options = {
        "preset": settings.preset,
        "profile": "high",
        "level": h264_level(rendition.width, rendition.height, fps),
        # no scene-cut keyframes: every segment starts on the keyframe we force, in every rendition
        "x264-params": f"scenecut=0:keyint={gop}:min-keyint={gop}",
        "maxrate": str(rendition.video_bitrate),
        "bufsize": str(2 * rendition.video_bitrate),
    }
    if settings.crf is not None:
        options["crf"] = str(settings.crf)
    else:
        options["b"] = str(rendition.video_bitrate)
    return options


def aac_rate(source_rate: int) -> int:
    return source_rate if source_rate in AAC_RATES else 48_000


class HlsOutput:
    """One rendition (or the audio-only stream): an hls muxer with a video and/or audio stream."""

    def __init__(
        self,
        out_dir: str,
        name: str,
        settings: LadderSettings,
        rendition: Rendition | None = None,
        fps: float = 0.0,
        audio_rate: int = 0,
    ) -> None:
        self.name = name
        self.dir = os.path.join(out_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.container: Any = av.open(
            os.path.join(self.dir, PLAYLIST),
            "w",
            format="hls",
            options={
                "hls_time": f"{settings.segment_seconds:g}",
                "hls_playlist_type": "vod",
                "hls_list_size": "0",
                "hls_segment_type": "mpegts",
                "hls_segment_filename": os.path.join(self.dir, SEGMENT_PATTERN),
                "hls_flags": "independent_segments",
            },
        )
        self.video: Any = None
        self.audio: Any = None
        # one swscale context per rendition, kept across frames: frame.reformat() builds a new
        # one for every decoded frame (it caches on the frame)
        self.scaler = VideoReformatter()
        self._sps_read = False
        self.codec = ""  # RFC 6381 string of the H.264 stream, read from its first SPS
        if rendition is not None:
            self.codec = avc1_codec(h264_level(rendition.width, rendition.height, fps))
            rate = Fraction(fps).limit_denominator(1001)
            stream = self.container.add_stream("libx264", rate=rate, options=x264_options(rendition, fps, settings))
            stream.width, stream.height, stream.pix_fmt = rendition.width, rendition.height, "yuv420p"
            stream.codec_context.time_base = TS_TIME_BASE
            stream.codec_context.thread_type = "AUTO"  # frame threads, as the ffmpeg CLI uses
            self.video = stream
        if audio_rate:
            sound = self.container.add_stream("aac", rate=audio_rate)
            sound.layout, sound.format = "stereo", "fltp"
            sound.bit_rate = settings.audio_bitrate
            sound.codec_context.time_base = Fraction(1, audio_rate)
            self.audio = sound

    def encode(self, frame: Any | None) -> None:
        """Encode one video frame (``None`` flushes the encoder) and mux what comes out."""
        for packet in self.video.encode(frame):
            if not self._sps_read:
                self._sps_read = True
                # the SPS is in the stream's global header (the hls muxer asks for one) or in-band
                extradata = self.video.codec_context.extradata or b""
                self.codec = avc1_from_annexb(extradata) or avc1_from_annexb(bytes(packet)) or self.codec
            self.container.mux_one(packet)

    def mux_audio(self, packet: Any) -> None:
        packet.stream = self.audio
        self.container.mux_one(packet)

    def close(self) -> None:
        if self.video is not None:
            self.encode(None)
        self.container.close()


def copy_packet(packet: Any) -> Any:
    """A packet with its own copy of ``packet``'s data and timing."""
    twin = av.Packet(bytes(packet))
    twin.pts, twin.dts, twin.time_base = packet.pts, packet.dts, packet.time_base
    twin.duration = packet.duration
    twin.is_keyframe = packet.is_keyframe
    return twin


class AudioFanout:
    """Resample decoded audio to AAC's stereo fltp, encode once, mux into every output."""

    def __init__(self, outputs: list[HlsOutput], rate: int, start: float) -> None:
        self.outputs = outputs
        self.encoder = outputs[0].audio
        self.rate = rate
        self.start = start  # source seconds that map to output pts 0
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate, frame_size=1024)
        self.next_pts: int | None = None

    def feed(self, frame: Any | None) -> None:
        """Take one decoded frame; ``None`` flushes the resampler and the encoder."""
        if self.next_pts is None:
            when = frame.time if frame is not None and frame.time is not None else self.start
            self.next_pts = max(0, round((when - self.start) * self.rate))  # keep A/V sync from the first sample
        for chunk in self.resampler.resample(frame):
            chunk.pts, chunk.time_base = self.next_pts, Fraction(1, self.rate)
            self.next_pts += chunk.samples
            self._send(chunk)
        if frame is None:
            self._send(None)

    def _send(self, chunk: Any | None) -> None:
        for packet in self.encoder.encode(chunk):
            for output in self.outputs[1:]:
                output.mux_audio(copy_packet(packet))
            self.outputs[0].mux_audio(packet)
