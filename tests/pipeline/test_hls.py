"""transcode_hls on every kind of clip: sizes, codecs, durations, keyframes, playlists, decoding."""

from __future__ import annotations

import itertools
import math
import os
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import m3u8
import pytest

from pipeline.transcode import HlsResult, LadderSettings, NotMediaError, ProbeResult, plan_ladder, probe, transcode_hls
from pipeline.transcode.frames import Rotator, upright_size
from pipeline.transcode.ladder import avc1_from_annexb

from .media import ClipStore, clip_store

SETTINGS = LadderSettings(segment_seconds=1.0)  # short segments: several per 2-3 s clip
EXPECTED_SIZES = {
    "2160p": [(3840, 2160), (1920, 1080), (1280, 720), (854, 480), (640, 360)],
    "1080p": [(1920, 1080), (1280, 720), (854, 480), (640, 360)],
    "720p": [(1280, 720), (854, 480), (640, 360)],
    "odd": [(854, 480), (640, 360)],
    "portrait": [(720, 1280), (480, 854), (360, 640)],
    "rotated": [(720, 1280), (480, 854), (360, 640)],
    "no_audio": [(640, 360)],
    "vfr": [(640, 360)],
    "dupes": [(320, 240)],
    "10bit": [(640, 360)],
    "444": [(640, 360)],
    "webm": [(640, 360)],
    "small": [(320, 240)],
}
VIDEO_CLIPS = sorted(EXPECTED_SIZES)
AUDIO_CLIPS = ["audio_only", "mp3"]
WITHOUT_AUDIO = {"no_audio", "small", "dupes"}
VARIABLE_RATE = {"vfr", "dupes"}


@dataclass
class Done:
    src: str
    out: Path
    probe: ProbeResult
    result: HlsResult
    progress: list[float]


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ClipStore:
    return clip_store(tmp_path_factory)


@pytest.fixture(scope="session")
def transcoded(clips: ClipStore, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Done]:
    cache: dict[str, Done] = {}

    def get(name: str) -> Done:
        if name not in cache:
            src, out = clips.path(name), tmp_path_factory.mktemp(f"hls_{name}")
            probed = probe(src)
            seen: list[float] = []
            result = transcode_hls(src, str(out), probed, plan_ladder(probed, SETTINGS), SETTINGS, seen.append)
            cache[name] = Done(src, out, probed, result, seen)
        return cache[name]

    return get


def decode_all(path: Path) -> dict[str, Any]:
    """Decode a playlist or segment end to end; what came out."""
    facts: dict[str, Any] = {"sizes": set(), "formats": set(), "first": None, "last": 0.0, "frames": 0}
    with av.open(str(path)) as container:
        facts["video_codecs"] = [s.codec_context.name for s in container.streams.video]
        facts["audio"] = [(s.codec_context.name, s.codec_context.channels) for s in container.streams.audio]
        audio_end = 0.0
        for frame in container.decode(*container.streams.video, *container.streams.audio):
            if isinstance(frame, av.AudioFrame):
                audio_end = max(audio_end, frame.time + frame.samples / frame.sample_rate)
                facts.setdefault("audio_start", frame.time)
                continue
            facts["sizes"].add((frame.width, frame.height))
            facts["formats"].add(frame.format.name)
            facts["first"] = frame.time if facts["first"] is None else facts["first"]
            facts["last"] = frame.time
            facts["frames"] += 1
        facts["audio_span"] = audio_end - facts.get("audio_start", 0.0)
    return facts


def video_packets(path: Path) -> list[Any]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(video=0) if p.size]


@pytest.mark.parametrize("name", VIDEO_CLIPS)
def test_renditions_have_the_planned_sizes_and_h264_aac(transcoded: Callable[[str], Done], name: str) -> None:
    done = transcoded(name)
    renditions = done.result.renditions
    assert [(r["width"], r["height"]) for r in renditions] == EXPECTED_SIZES[name]
    assert done.result.audio_only is False
    for r in renditions:
        facts = decode_all(done.out / r["playlist"])
        assert facts["video_codecs"] == ["h264"]
        assert facts["sizes"] == {(r["width"], r["height"])} and facts["formats"] == {"yuv420p"}
        span = facts["last"] - facts["first"] + 1 / 30
        assert span == pytest.approx(done.probe.duration, abs=0.2), r["name"]
        if name in WITHOUT_AUDIO:
            assert facts["audio"] == [] and "mp4a" not in r["codecs"]
        else:
            assert facts["audio"] == [("aac", 2)]
            assert facts["audio_span"] == pytest.approx(done.probe.duration, abs=0.2)
    assert done.result.duration == pytest.approx(done.probe.duration, abs=0.2)


@pytest.mark.parametrize("name", VIDEO_CLIPS)
def test_every_segment_starts_on_a_keyframe_aligned_across_renditions(
    transcoded: Callable[[str], Done], name: str
) -> None:
    done = transcoded(name)
    timelines = []
    for r in done.result.renditions:
        playlist = m3u8.load(str(done.out / r["playlist"]))
        assert len(playlist.segments) == math.ceil(done.probe.duration - 0.05)  # 1 s segments
        starts = []
        for segment in playlist.segments:
            packets = video_packets(done.out / r["name"] / segment.uri)
            assert packets[0].is_keyframe, f"{r['name']}/{segment.uri}"
            starts.append(round(float(min(p.pts * p.time_base for p in packets)), 3))
            if name not in VARIABLE_RATE:  # scenecut=0 + keyint: no extra keyframes inside a CFR segment
                assert sum(p.is_keyframe for p in packets) == 1
        timelines.append(starts)
        offset = starts[0]  # the TS muxer's start offset
        # forced keyframes: segment k starts on the first frame at/after k * segment_seconds
        assert all(0 <= s - offset - k * SETTINGS.segment_seconds < 0.085 for k, s in enumerate(starts)), starts
    assert all(t == timelines[0] for t in timelines), timelines  # segment N covers the same span everywhere


@pytest.mark.parametrize("name", [*VIDEO_CLIPS, *AUDIO_CLIPS])
def test_playlists_parse_and_master_lists_every_rendition(transcoded: Callable[[str], Done], name: str) -> None:
    done = transcoded(name)
    assert done.result.master_playlist == "master.m3u8"
    master = m3u8.load(str(done.out / "master.m3u8"))
    assert master.is_variant
    assert [p.uri for p in master.playlists] == [r["playlist"] for r in done.result.renditions]
    segments = []
    for variant, r in zip(master.playlists, done.result.renditions, strict=True):
        info = variant.stream_info
        assert info.bandwidth == r["bandwidth"] > 0 and info.average_bandwidth == r["average_bandwidth"] > 0
        assert info.codecs == r["codecs"]
        assert info.resolution == ((r["width"], r["height"]) if r["width"] else None)
        media = m3u8.load(str(done.out / r["playlist"]))
        assert media.is_endlist and media.playlist_type == "vod"
        assert [f"{r['name']}/{s.uri}" for s in media.segments] == r["segments"]
        assert media.target_duration >= round(max(s.duration for s in media.segments))  # RFC 8216 4.3.3.1
        pairs = list(zip(r["segments"], media.segments, strict=True))
        full = [(p, s) for p, s in pairs if s.duration >= 1.0] or pairs  # a short tail would overstate it
        peak = max(os.path.getsize(done.out / p) * 8 / s.duration for p, s in full)
        assert info.bandwidth >= peak - 1  # BANDWIDTH is the peak segment bit rate
        segments += r["segments"]
    assert done.result.segments == segments and all((done.out / s).is_file() for s in segments)


@pytest.mark.parametrize("name", ["2160p", "1080p", "no_audio", "webm"])
def test_codecs_attribute_matches_the_stream(transcoded: Callable[[str], Done], name: str) -> None:
    done = transcoded(name)
    for r in done.result.renditions:
        first = (done.out / r["segments"][0]).read_bytes()
        video, *audio = r["codecs"].split(",")
        assert video.startswith("avc1.64")  # High profile at veryfast
        with av.open(str(done.out / r["segments"][0])) as container:
            extradata = container.streams.video[0].codec_context.extradata or first
        assert avc1_from_annexb(extradata) == video
        assert audio == ([] if name == "no_audio" else ["mp4a.40.2"])


@pytest.mark.parametrize("name", AUDIO_CLIPS)
def test_audio_only_sources_give_an_audio_only_hls(transcoded: Callable[[str], Done], name: str) -> None:
    done = transcoded(name)
    assert done.result.audio_only is True
    [r] = done.result.renditions
    assert (r["name"], r["codecs"], r["width"], r["height"]) == ("audio", "mp4a.40.2", 0, 0)
    facts = decode_all(done.out / r["playlist"])
    assert facts["video_codecs"] == [] and facts["audio"] == [("aac", 2)]
    assert facts["audio_span"] == pytest.approx(done.probe.duration, abs=0.2)
    assert "RESOLUTION" not in (done.out / "master.m3u8").read_text()


def luma(frame: Any, fx: float, fy: float) -> int:
    gray = frame.reformat(format="gray")
    plane = gray.planes[0]
    return bytes(plane)[int(fy * gray.height) * plane.line_size + int(fx * gray.width)]


def test_rotated_video_comes_out_upright(transcoded: Callable[[str], Done]) -> None:
    done = transcoded("rotated")  # stored 1280x720 with a white top-left quarter, shown turned 90 clockwise
    with av.open(str(done.out / done.result.renditions[0]["playlist"])) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (720, 1280)
    assert luma(frame, 0.9, 0.1) > 200  # the marker turned to the top-right
    assert max(luma(frame, 0.1, 0.1), luma(frame, 0.1, 0.9), luma(frame, 0.9, 0.9)) < 40


def test_repeated_timestamps_are_dropped(transcoded: Callable[[str], Done]) -> None:
    done = transcoded("dupes")
    with av.open(done.src) as container:
        source = [f.time for f in container.decode(video=0)]
    assert len(source) == len(set(source)) + 4  # the clip really repeats 4 timestamps
    with av.open(str(done.out / done.result.renditions[0]["playlist"])) as container:
        shown = [f.time for f in container.decode(video=0)]
    assert len(shown) == len(set(source))
    assert all(b > a for a, b in itertools.pairwise(shown))


@pytest.mark.parametrize(
    ("rotation", "corner"), [(0, (0.1, 0.1)), (90, (0.9, 0.1)), (180, (0.9, 0.9)), (270, (0.1, 0.9))]
)
def test_rotator_turns_each_quarter(clips: ClipStore, rotation: int, corner: tuple[float, float]) -> None:
    with av.open(clips.path("rotated")) as container:  # stored 1280x720, white top-left quarter
        frame = next(container.decode(video=0))
    upright = Rotator(rotation)(frame)
    assert (upright.width, upright.height) == upright_size(1280, 720, rotation)
    corners = {(0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9)}
    assert luma(upright, *corner) > 200
    assert all(luma(upright, *c) < 40 for c in corners - {corner})


def test_progress_is_whole_percents_up_to_100(transcoded: Callable[[str], Done]) -> None:
    seen = transcoded("720p").progress
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[0] <= 5 and seen[-1] == 100.0 and 50 <= len(seen) <= 101
    assert all(p == int(p) and 0 <= p <= 100 for p in seen)


def test_encoder_settings_are_used(clips: ClipStore, tmp_path: Path) -> None:
    src = clips.path("720p")
    probed = probe(src)
    sizes = {}
    for label, settings in {
        "crf18": LadderSettings(heights=(360,), crf=18, segment_seconds=2.0),
        "crf40": LadderSettings(heights=(360,), crf=40, segment_seconds=2.0),
        "abr": LadderSettings(heights=(360,), crf=None, bitrates={360: 150_000}, segment_seconds=2.0),
    }.items():
        result = transcode_hls(src, str(tmp_path / label), probed, plan_ladder(probed, settings), settings)
        sizes[label] = sum(os.path.getsize(tmp_path / label / s) for s in result.segments)
        assert len(result.segments) == 2  # 3 s in 2 s segments
    assert sizes["crf40"] < sizes["crf18"] / 2  # audio and TS overhead are the same in both
    assert sizes["abr"] * 8 / probed.duration < 400_000  # 150 kb/s video + 128 kb/s audio + TS overhead


def test_truncated_data_is_caught_while_decoding(clips: ClipStore, tmp_path: Path) -> None:
    src = clips.path("truncated_faststart")  # the index is intact, so the probe cannot tell
    probed = probe(src)
    with pytest.raises(NotMediaError, match=r"^truncated or corrupt media: decoded \d"):
        transcode_hls(src, str(tmp_path), probed, plan_ladder(probed, SETTINGS), SETTINGS)


def test_text_renamed_mp4_fails_in_transcode_too(clips: ClipStore, tmp_path: Path) -> None:
    stand_in = probe(clips.path("no_audio"))  # a caller that skipped the probe
    with pytest.raises(NotMediaError, match=r"^not a media file: invalid data found"):
        transcode_hls(clips.path("text"), str(tmp_path), stand_in, plan_ladder(stand_in, SETTINGS), SETTINGS)


def _pool_job(src: str, out: str) -> HlsResult:
    probed = probe(src)
    return transcode_hls(src, out, probed, plan_ladder(probed, SETTINGS), SETTINGS)


def test_runs_in_a_process_pool(clips: ClipStore, tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=1) as pool:
        result = pool.submit(_pool_job, clips.path("small"), str(tmp_path)).result(timeout=120)
    assert [(r["name"], r["width"], r["height"]) for r in result.renditions] == [("240p", 320, 240)]
    assert pickle.loads(pickle.dumps(result)) == result and (tmp_path / "master.m3u8").is_file()
