"""probe(): classification, stream facts, rotation, and clear reasons for bad input."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

import pytest

from pipeline.transcode import NotMediaError, ProbeResult, probe
from pipeline.transcode.probe import clockwise_rotation

from .media import Clip, ClipStore, clip_store, make_clip


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


def _bytes_read() -> int:
    """Bytes this process has read so far (the kernel's count: FFmpeg's own reads included)."""
    with open("/proc/self/io") as fh:
        return int(next(line for line in fh if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_a_file_with_no_media_head_is_turned_away_after_a_short_search(tmp_path: Path) -> None:
    noise = tmp_path / "report.bin"
    noise.write_bytes(random.Random(7).randbytes(4 * 1024 * 1024))
    before = _bytes_read()
    with pytest.raises(NotMediaError, match=r"^not a media file: invalid data found"):
        probe(str(noise))
    # FFmpeg's full search reads up to 1 MiB of a file that matches no container (its CPU cost:
    # docs/benchmarks.md); the short one reads 64 KiB plus one I/O buffer
    assert _bytes_read() - before < 256 * 1024


@pytest.mark.parametrize(
    ("filename", "codec", "muxer_options"),
    [
        ("adts.aac", "aac", ()),  # raw AAC: starts with a frame sync word, no magic of ours
        ("bare.mp3", "libmp3lame", (("id3v2_version", "0"), ("write_xing", "0"))),  # MP3 without an ID3 tag
    ],
)
def test_media_without_a_known_magic_is_still_found(
    tmp_path: Path, filename: str, codec: str, muxer_options: tuple[tuple[str, str], ...]
) -> None:
    path = make_clip(
        str(tmp_path / filename),
        Clip(filename, vcodec=None, acodec=codec, sample_rate=44_100, muxer_options=muxer_options),
    )
    assert Path(path).read_bytes()[:1] == b"\xff"  # a frame sync, none of the magics the full search is kept for
    result = probe(path)
    assert (result.kind, result.has_audio, result.sample_rate) == ("audio", True, 44_100)
    assert result.duration > 1.5


def test_a_large_id3_tag_before_mp3_frames(tmp_path: Path, clips: ClipStore) -> None:
    """Cover art can make an ID3 tag larger than the short search; such a file still probes."""
    bare = make_clip(
        str(tmp_path / "bare.mp3"),
        Clip("bare.mp3", vcodec=None, acodec="libmp3lame", muxer_options=(("id3v2_version", "0"),)),
    )
    size = 300 * 1024
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(b"ID3\x04\x00\x00" + syncsafe + bytes(size) + Path(bare).read_bytes())
    result = probe(str(tagged))
    assert (result.kind, result.audio_codec) == ("audio", "mp3float")
