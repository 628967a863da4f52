"""probe(): classification, stream facts, rotation, and clear reasons for bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from pipeline.transcode import NotMediaError, ProbeResult, probe
from pipeline.transcode.probe import clockwise_rotation

from .media import ClipStore, clip_store


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ClipStore:
    return clip_store(tmp_path_factory)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1080p", dict(width=1920, height=1080, video_codec="h264", audio_codec="aac", pix_fmt="yuv420p")),
        ("odd", dict(width=1279, height=719, video_codec="mpeg4", audio_codec="aac")),
        ("portrait", dict(width=720, height=1280, rotation=0)),
        ("rotated", dict(width=720, height=1280, rotation=90)),  # stored 1280x720, shown upright
        ("no_audio", dict(width=640, height=360, has_audio=False, audio_codec=None)),
        ("10bit", dict(pix_fmt="yuv420p10le")),
        ("444", dict(pix_fmt="yuv444p")),
        ("webm", dict(video_codec="vp9", audio_codec="opus", container="matroska,webm")),
    ],
)
def test_video_clips(clips: ClipStore, name: str, expected: dict[str, Any]) -> None:
    result = probe(clips.path(name))
    assert result.kind == "video" and result.has_video
    assert result.fps == pytest.approx(30.0, abs=0.5)
    assert result.duration == pytest.approx(2.0, abs=0.1)
    for key, value in expected.items():
        assert getattr(result, key) == value, key


def test_streams_are_listed(clips: ClipStore) -> None:
    result = probe(clips.path("1080p"))
    kinds = {s.type: s for s in result.streams}
    assert set(kinds) == {"video", "audio"}
    assert (kinds["video"].width, kinds["video"].height, kinds["video"].codec) == (1920, 1080, "h264")
    assert (kinds["audio"].sample_rate, kinds["audio"].channels, kinds["audio"].codec) == (48_000, 2, "aac")


def test_rotation_keeps_the_stored_size_in_the_stream(clips: ClipStore) -> None:
    result = probe(clips.path("rotated"))
    video = next(s for s in result.streams if s.type == "video")
    assert (video.width, video.height) == (1280, 720)
    assert (result.width, result.height, result.rotation) == (720, 1280, 90)


@pytest.mark.parametrize(("name", "codec", "rate"), [("audio_only", "aac", 44_100), ("mp3", "mp3float", 44_100)])
def test_audio_only(clips: ClipStore, name: str, codec: str, rate: int) -> None:
    result = probe(clips.path(name))
    assert result.kind == "audio"
    assert (result.has_video, result.has_audio, result.video_codec) == (False, True, None)
    assert (result.width, result.height, result.audio_codec, result.sample_rate) == (0, 0, codec, rate)
    assert result.duration > 1.5


def test_result_is_plain_data(clips: ClipStore) -> None:
    result = probe(clips.path("720p"))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["kind"] == "video" and data["width"] == 1280 and data["streams"][0]["type"] == "video"
    assert pickle.loads(pickle.dumps(result)) == result  # crosses the process pool
    assert isinstance(result, ProbeResult)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("text", "not a media file: invalid data found when processing input"),
        ("truncated", "truncated or corrupt media: invalid data found when processing input"),
    ],
)
def test_bad_input_fails_with_a_reason(clips: ClipStore, name: str, reason: str) -> None:
    with pytest.raises(NotMediaError) as caught:
        probe(clips.path(name))
    assert str(caught.value) == reason
    assert caught.value.reason == reason


def test_empty_and_streamless_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(NotMediaError, match=r"^not a media file: the file is empty$"):
        probe(str(empty))
    garbage = tmp_path / "noise.mkv"
    garbage.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 8)  # Matroska magic, then junk
    with pytest.raises(NotMediaError, match=r"^truncated or corrupt media: "):
        probe(str(garbage))


def test_a_missing_file_is_not_a_media_verdict(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(str(tmp_path / "gone.mp4"))


@pytest.mark.parametrize(("ccw", "clockwise"), [(0, 0), (-90, 90), (90, 270), (180, 180), (-180, 180), (None, 0)])
def test_clockwise_rotation(ccw: float | None, clockwise: int) -> None:
    assert clockwise_rotation(ccw) == clockwise
