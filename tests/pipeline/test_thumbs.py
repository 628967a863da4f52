"""make_thumbnails: valid JPEGs of the right size, taken at the right times, upright."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from pipeline.transcode import make_thumbnails, probe
from pipeline.transcode.thumbs import poster_size, still_times, thumb_size

from .media import ClipStore, clip_store


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ClipStore:
    return clip_store(tmp_path_factory)


def read_jpeg(path: Path) -> Any:
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9", path  # SOI ... EOI
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
        return next(container.decode(video=0))


def luma(frame: Any, fx: float, fy: float) -> int:
    gray = frame.reformat(format="gray")
    plane = gray.planes[0]
    return bytes(plane)[int(fy * gray.height) * plane.line_size + int(fx * gray.width)]


@pytest.mark.parametrize(
    ("name", "poster", "thumb"),
    [
        ("1080p", (1920, 1080), (320, 180)),
        ("portrait", (720, 1280), (180, 320)),
        ("rotated", (720, 1280), (180, 320)),
        ("odd", (1280, 720), (320, 180)),
        ("10bit", (640, 360), (320, 180)),
        ("webm", (640, 360), (320, 180)),
    ],
)
def test_poster_and_thumbnails_are_jpegs_of_the_right_size(
    clips: ClipStore, tmp_path: Path, name: str, poster: tuple[int, int], thumb: tuple[int, int]
) -> None:
    src = clips.path(name)
    result = make_thumbnails(src, str(tmp_path), probe(src), count=3)
    assert result.poster == "poster.jpg"
    assert result.thumbnails == ["thumb_0.jpg", "thumb_1.jpg", "thumb_2.jpg"]
    assert ((result.width, result.height), (result.thumb_width, result.thumb_height)) == (poster, thumb)
    frame = read_jpeg(tmp_path / result.poster)
    assert (frame.width, frame.height) == poster
    for name_ in result.thumbnails:
        frame = read_jpeg(tmp_path / name_)
        assert (frame.width, frame.height) == thumb
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([result.poster, *result.thumbnails])


def test_stills_are_taken_at_their_times(clips: ClipStore, tmp_path: Path) -> None:
    src = clips.path("ramp")  # luma = 100 * t (limited range), a keyframe every 10 frames: real seeks
    probed = probe(src)
    result = make_thumbnails(src, str(tmp_path), probed, count=4)
    poster_at, thumb_at = still_times(probed.duration, 4)
    assert poster_at == pytest.approx(0.2) and thumb_at == pytest.approx([0.4, 0.8, 1.2, 1.6])
    for name, when in zip([result.poster, *result.thumbnails], [poster_at, *thumb_at], strict=True):
        expected = (100 * when - 16) * 255 / 219  # studio-range Y in a full-range JPEG
        assert luma(read_jpeg(tmp_path / name), 0.5, 0.5) == pytest.approx(expected, abs=8), name


def test_rotated_stills_are_upright(clips: ClipStore, tmp_path: Path) -> None:
    src = clips.path("rotated")  # white top-left quarter in storage: top-right once upright
    result = make_thumbnails(src, str(tmp_path), probe(src), count=1)
    for name in (result.poster, *result.thumbnails):
        frame = read_jpeg(tmp_path / name)
        assert luma(frame, 0.9, 0.1) > 200, name
        assert max(luma(frame, 0.1, 0.1), luma(frame, 0.1, 0.9), luma(frame, 0.9, 0.9)) < 40, name


def test_audio_only_has_no_stills(clips: ClipStore, tmp_path: Path) -> None:
    src = clips.path("audio_only")
    result = make_thumbnails(src, str(tmp_path / "out"), probe(src))
    assert (result.poster, result.thumbnails) == ("", [])
    assert not (tmp_path / "out").exists()


def test_zero_thumbnails_still_gives_a_poster(clips: ClipStore, tmp_path: Path) -> None:
    src = clips.path("small")
    result = make_thumbnails(src, str(tmp_path), probe(src), count=0)
    assert (result.poster, result.thumbnails) == ("poster.jpg", [])
    assert (read_jpeg(tmp_path / "poster.jpg").width, result.thumb_width) == (320, 320)


def test_sizes() -> None:
    assert poster_size(3840, 2160) == (1920, 1080)
    assert poster_size(1080, 1920) == (1080, 1920)
    assert poster_size(320, 240) == (320, 240)
    assert thumb_size(1920, 1080) == (320, 180)
    assert thumb_size(1080, 1920) == (180, 320)
    assert thumb_size(100, 50) == (100, 50)  # never upscaled
