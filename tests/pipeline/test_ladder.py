"""plan_ladder and the H.264 naming helpers: pure, no media needed."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from pipeline.transcode import LadderSettings, ProbeResult, Rendition, plan_ladder
from pipeline.transcode.ladder import avc1_codec, avc1_from_annexb, bitrate_for, even, h264_level


def probed(width: int, height: int, *, kind: str = "video", audio: bool = True, fps: float = 30.0) -> ProbeResult:
    fields: dict[str, Any] = dict(
        kind=kind,
        container="mov,mp4,m4a,3gp,3g2,mj2",
        duration=10.0,
        width=width,
        height=height,
        rotation=0,
        fps=fps,
        video_codec="h264" if kind == "video" else None,
        audio_codec="aac" if audio else None,
        pix_fmt="yuv420p" if kind == "video" else None,
        has_audio=audio,
        has_video=kind == "video",
    )
    return ProbeResult(**fields)


def sizes(renditions: list[Rendition]) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in renditions]


FROM_1080 = [("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]
FROM_1080_PORTRAIT = [("1080p", 1080, 1920), ("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)]


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1920, 1080, [("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]),
        (3840, 2160, [("2160p", 3840, 2160), *FROM_1080]),
        (2560, 1440, FROM_1080),  # 1440 < 2160: never upscale
        (2160, 3840, [("2160p", 2160, 3840), *FROM_1080_PORTRAIT]),
        (1280, 720, [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]),
        (1279, 719, [("480p", 854, 480), ("360p", 640, 360)]),  # 719 < 720: never upscale
        (1080, 1920, [("1080p", 1080, 1920), ("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)]),
        (720, 1280, [("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)]),
        (640, 480, [("480p", 640, 480), ("360p", 480, 360)]),
        (320, 240, [("240p", 320, 240)]),  # below the lowest rung: one rendition at its own size
        (317, 179, [("180p", 318, 180)]),  # ... rounded to even dimensions
        (1920, 800, [("720p", 1728, 720), ("480p", 1152, 480), ("360p", 864, 360)]),  # 2.4:1 scope
    ],
)
def test_rungs_never_above_the_source_even_and_aspect_kept(
    width: int, height: int, expected: list[tuple[str, int, int]]
) -> None:
    ladder = plan_ladder(probed(width, height), LadderSettings())
    assert sizes(ladder) == expected
    for r in ladder:
        assert r.width % 2 == 0 and r.height % 2 == 0
        assert r.width / r.height == pytest.approx(width / height, rel=0.01)


def test_audio_only_gets_no_video_renditions() -> None:
    assert plan_ladder(probed(0, 0, kind="audio"), LadderSettings()) == []


def test_bitrates_and_bandwidth_follow_the_settings() -> None:
    settings = LadderSettings(heights=(720, 240), bitrates={720: 3_000_000, 240: 500_000}, audio_bitrate=96_000)
    ladder = plan_ladder(probed(1920, 1080), settings)
    assert sizes(ladder) == [("720p", 1280, 720), ("240p", 426, 240)]
    assert [r.video_bitrate for r in ladder] == [3_000_000, 500_000]
    assert [r.bandwidth() for r in ladder] == [3_096_000, 596_000]
    silent = plan_ladder(probed(1920, 1080, audio=False), settings)
    assert [r.audio_bitrate for r in silent] == [0, 0] and silent[0].bandwidth() == 3_000_000


def test_a_rung_missing_from_the_bitrate_table_is_scaled_by_pixels() -> None:
    table = {360: 800_000, 720: 2_800_000}
    assert bitrate_for(720, table) == 2_800_000
    assert bitrate_for(180, table) == 200_000  # a quarter of 360p's pixels
    assert bitrate_for(20, table) == 64_000  # floor


def test_even_rounds_to_the_nearest_even_size_at_least_two() -> None:
    assert [even(v) for v in (853.3, 854.9, 719, 1, 0.2)] == [854, 854, 720, 2, 2]


@pytest.mark.parametrize(
    ("width", "height", "fps", "level"),
    [(640, 360, 30, "3.0"), (1280, 720, 30, "3.1"), (1280, 720, 60, "3.2"), (1920, 1080, 30, "4.0"),
     (1920, 1080, 60, "4.2"), (3840, 2160, 30, "5.1"), (3840, 2160, 60, "5.2"), (3840, 2160, 120, "6.0")],
)  # fmt: skip
def test_h264_level_fits_frame_size_and_rate(width: int, height: int, fps: float, level: str) -> None:
    assert h264_level(width, height, fps) == level


def test_codec_strings() -> None:
    assert avc1_codec("4.0") == "avc1.640028"
    assert avc1_codec("3.1") == "avc1.64001f"
    sps = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x42\xc0\x1e\xda"
    assert avc1_from_annexb(sps) == "avc1.42c01e"
    assert avc1_from_annexb(b"\x00\x00\x01\x65\x88\x84\x00") is None  # an IDR slice, no SPS


def test_settings_and_renditions_cross_a_process_boundary() -> None:
    settings = LadderSettings(heights=(480,), preset="medium", crf=None)
    ladder = plan_ladder(probed(1280, 720), settings)
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert pickle.loads(pickle.dumps(ladder)) == ladder
