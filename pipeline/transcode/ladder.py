"""The HLS ladder: which renditions a source gets, and the H.264 settings each one uses.

Pure: no PyAV here, so the choice is unit-testable and cheap to call from anywhere.
A rendition is named after its short side ("720p" is 1280x720 landscape or 720x1280 portrait),
so a phone video gets the same rungs as a landscape one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .probe import ProbeResult

# The caps of each rung (bps). 2160p is about 3.2x 1080p for 4x the pixels: the upper half of the
# 11.6-16.8 Mbps that Apple's HLS authoring guide gives H.264 at 2160p30, as 5 Mbps is for 1080p.
DEFAULT_BITRATES: dict[int, int] = {2160: 16_000_000, 1080: 5_000_000, 720: 2_800_000, 480: 1_400_000, 360: 800_000}

# (level, max macroblocks per second, max frame size in macroblocks), from H.264 table A-1.
_LEVELS: tuple[tuple[str, int, int], ...] = (
    ("3.0", 40_500, 1_620),
    ("3.1", 108_000, 3_600),
    ("3.2", 216_000, 5_120),
    ("4.0", 245_760, 8_192),
    ("4.2", 522_240, 8_704),
    ("5.0", 589_824, 22_080),
    ("5.1", 983_040, 36_864),
    ("5.2", 2_073_600, 36_864),
    ("6.0", 4_177_920, 139_264),
    ("6.2", 16_711_680, 139_264),
)
HIGH_PROFILE_IDC = 100


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    video_bitrate: int  # bps: the cap (maxrate) with CRF, the target without
    audio_bitrate: int  # bps, 0 when the source has no audio

    def bandwidth(self) -> int:
        """Nominal peak bits per second, before the real segments are measured."""
        return self.video_bitrate + self.audio_bitrate


@dataclass(frozen=True)
class LadderSettings:
    heights: tuple[int, ...] = (2160, 1080, 720, 480, 360)
    preset: str = "veryfast"
    crf: int | None = 23  # None: encode to ``bitrates`` (ABR) instead of constant quality
    bitrates: dict[int, int] = field(default_factory=lambda: dict(DEFAULT_BITRATES))
    segment_seconds: float = 6.0
    audio_bitrate: int = 128_000
    thumbnail_count: int = 4


def even(value: float) -> int:
    """Nearest even integer, at least 2 (yuv420p needs even sizes)."""
    return max(2, int(value / 2.0 + 0.5) * 2)  # half up, not Python's half-to-even


def bitrate_for(short_side: int, bitrates: dict[int, int]) -> int:
    """The configured bitrate for a rung, scaled by pixel count for sizes not in the table."""
    if short_side in bitrates:
        return bitrates[short_side]
    table = bitrates or DEFAULT_BITRATES
    nearest = min(table, key=lambda h: abs(h - short_side))
    return max(64_000, int(table[nearest] * (short_side / nearest) ** 2))


def plan_ladder(p: ProbeResult, s: LadderSettings) -> list[Rendition]:
    """Renditions for ``p``, largest first. Audio-only sources get none."""
    if p.kind != "video" or p.width <= 0 or p.height <= 0:
        return []
    audio = s.audio_bitrate if p.has_audio else 0
    portrait = p.height > p.width
    short, long_ = (p.width, p.height) if portrait else (p.height, p.width)
    rungs = sorted({h for h in s.heights if 0 < h <= short}, reverse=True)
    if not rungs:
        rungs = [short]  # smaller than every rung: one rendition at its own size
    out: list[Rendition] = []
    for rung in rungs:
        rung_short = even(rung)
        rung_long = even(long_ * rung_short / short)
        width, height = (rung_short, rung_long) if portrait else (rung_long, rung_short)
        out.append(Rendition(f"{rung_short}p", width, height, bitrate_for(rung, s.bitrates), audio))
    return out


def h264_level(width: int, height: int, fps: float) -> str:
    """The smallest H.264 level whose frame size and macroblock rate fit the rendition."""
    frame_mbs = ((width + 15) // 16) * ((height + 15) // 16)
    rate = frame_mbs * max(fps, 1.0)
    for level, max_rate, max_frame in _LEVELS:
        if frame_mbs <= max_frame and rate <= max_rate:
            return level
    return _LEVELS[-1][0]


def avc1_codec(level: str, profile_idc: int = HIGH_PROFILE_IDC) -> str:
    """RFC 6381 codec string for H.264 High at ``level`` (e.g. "4.0" -> "avc1.640028")."""
    major, _, minor = level.partition(".")
    return f"avc1.{profile_idc:02x}00{int(major) * 10 + int(minor or 0):02x}"


def avc1_from_annexb(data: bytes) -> str | None:
    """The codec string of the first SPS in an Annex B packet (what the encoder really chose:
    x264's fast presets drop to Constrained Baseline whatever profile was asked for)."""
    pos = 0
    while (i := data.find(b"\x00\x00\x01", pos)) >= 0 and i + 6 < len(data):
        if data[i + 3] & 0x1F == 7:  # NAL unit type 7: sequence parameter set
            return f"avc1.{data[i + 4]:02x}{data[i + 5]:02x}{data[i + 6]:02x}"
        pos = i + 3
    return None


AAC_LC_CODEC = "mp4a.40.2"
