"""HLS AES-128: segment encryption, per-segment IVs, playlist rewriting, and FFmpeg (through
PyAV) playing an encrypted playlist the way any HLS player would."""

from __future__ import annotations

import os
from pathlib import Path

import av
import m3u8
import pytest

from pipeline.crypto.segments import (
    SegmentError,
    decrypt_segment,
    encrypt_segment,
    key_tag,
    rewrite_media_playlist,
    segment_iv,
)

KEY = bytes(range(16))

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:{seq}
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-KEY:METHOD=NONE
#EXTINF:2.000000,
seg_00000.ts
#EXT-X-DISCONTINUITY
#EXTINF:2.000000,
seg_00001.ts
#EXTINF:1.500000,
seg_00002.ts
#EXT-X-ENDLIST
"""


def signed(uri: str) -> str:
    return f"/media/a1/720p/{uri}?exp=99&sig=abc"


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 188 * 7, 100_000])
def test_segment_round_trip(size: int) -> None:
    data = os.urandom(size)
    iv = segment_iv(3)
    sealed = encrypt_segment(data, KEY, iv)
    assert len(sealed) == (size // 16 + 1) * 16  # PKCS#7 always adds 1..16 bytes
    assert decrypt_segment(sealed, KEY, iv) == data
    assert size < 32 or data[:32] not in sealed
    assert encrypt_segment(data, KEY, segment_iv(4)) != sealed


def test_segment_decrypt_with_wrong_key_or_iv() -> None:
    sealed = encrypt_segment(b"x" * 1000, KEY, segment_iv(0))
    wrong_iv = decrypt_segment(sealed, KEY, segment_iv(1))  # CBC: only the first block differs
    assert wrong_iv[:16] != b"x" * 16 and wrong_iv[16:] == b"x" * 984
    with pytest.raises(SegmentError):  # this wrong key breaks the padding (fixed inputs: deterministic)
        decrypt_segment(sealed, bytes(16), segment_iv(0))
    for junk in (b"", sealed[:-1]):
        with pytest.raises(SegmentError):
            decrypt_segment(junk, KEY, segment_iv(0))
    with pytest.raises(ValueError):
        encrypt_segment(b"x", bytes(32), segment_iv(0))


def test_segment_iv() -> None:
    assert segment_iv(0) == bytes(16)
    assert segment_iv(258) == bytes(14) + b"\x01\x02"  # the HLS default: the media sequence number
    assert segment_iv(5, stream=2) == (2).to_bytes(8, "big") + (5).to_bytes(8, "big")
    ivs = {segment_iv(n, stream=s) for n in range(50) for s in range(4)}
    assert len(ivs) == 200  # never reused across renditions sharing a key
    with pytest.raises(ValueError):
        segment_iv(-1)


def test_key_tag() -> None:
    assert key_tag("/k?sig=1") == '#EXT-X-KEY:METHOD=AES-128,URI="/k?sig=1"'
    assert key_tag("k", segment_iv(1)) == '#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0x' + "0" * 31 + "1"
    with pytest.raises(ValueError):
        key_tag('k"x')


@pytest.mark.parametrize("seq", [0, 7])
def test_rewrite_with_explicit_ivs(seq: int) -> None:
    text = rewrite_media_playlist(PLAYLIST.format(seq=seq), "/keys/a1?sig=k", lambda n: segment_iv(n, stream=1), signed)
    playlist = m3u8.loads(text)
    assert [s.uri for s in playlist.segments] == [signed(f"seg_0000{i}.ts") for i in range(3)]
    assert [s.duration for s in playlist.segments] == [2.0, 2.0, 1.5]
    assert playlist.media_sequence == seq and playlist.is_endlist and playlist.segments[1].discontinuity
    for i, segment in enumerate(playlist.segments):
        assert segment.key.method == "AES-128" and segment.key.uri == "/keys/a1?sig=k"
        assert bytes.fromhex(segment.key.iv[2:]) == segment_iv(seq + i, stream=1)
    assert "METHOD=NONE" not in text and text.count("#EXT-X-KEY") == 3


def test_rewrite_with_implicit_ivs_has_one_key_tag() -> None:
    text = rewrite_media_playlist(PLAYLIST.format(seq=0), "/keys/a1", None, signed)
    playlist = m3u8.loads(text)
    assert text.count("#EXT-X-KEY") == 1 and "IV=" not in text
    assert all(s.key and s.key.uri == "/keys/a1" and s.key.iv is None for s in playlist.segments)
    assert text.index("#EXT-X-KEY") < text.index("#EXTINF")


def test_rewrite_raises_version_and_map_uri() -> None:
    old = '#EXTM3U\n#EXT-X-VERSION:1\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\ns.m4s\n'
    text = rewrite_media_playlist(old, "k", segment_iv, signed)
    assert "#EXT-X-VERSION:2" in text and f'#EXT-X-MAP:URI="{signed("init.mp4")}"' in text
    no_version = rewrite_media_playlist("#EXTM3U\n#EXTINF:2,\ns.ts\n", "k", segment_iv, signed)
    assert no_version.splitlines()[1] == "#EXT-X-VERSION:2"
    with pytest.raises(ValueError):
        rewrite_media_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", "k", None, signed)
    with pytest.raises(ValueError):
        rewrite_media_playlist("not a playlist", "k", None, signed)


def _ts_clip(path: Path, first_pts: int, frames: int = 10) -> None:
    """A tiny MPEG-TS segment: 64x64 MPEG-2 video at 10 fps, a different grey per frame."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("mpeg2video", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(64, 64, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(first_pts + i) * 12 % 256]) * plane.buffer_size)
            frame.pts = first_pts + i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _decode(playlist: Path) -> list[bytes]:
    with av.open(str(playlist), options={"allowed_extensions": "ALL"}) as container:
        return [bytes(frame.planes[0]) for frame in container.decode(video=0)]


def test_ffmpeg_plays_the_encrypted_playlist(tmp_path: Path) -> None:
    key = os.urandom(16)
    (tmp_path / "content.key").write_bytes(key)
    plain = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
    for i in range(3):
        _ts_clip(tmp_path / f"plain_{i}.ts", first_pts=10 * i)
        data = (tmp_path / f"plain_{i}.ts").read_bytes()
        (tmp_path / f"enc_{i}.ts").write_bytes(encrypt_segment(data, key, segment_iv(i, stream=2)))
        plain += f"#EXTINF:1.0,\nplain_{i}.ts\n"
    plain += "#EXT-X-ENDLIST\n"
    (tmp_path / "plain.m3u8").write_text(plain)
    encrypted = rewrite_media_playlist(
        plain, "content.key", lambda n: segment_iv(n, stream=2), lambda uri: uri.replace("plain_", "enc_")
    )
    (tmp_path / "enc.m3u8").write_text(encrypted)

    expected = _decode(tmp_path / "plain.m3u8")
    assert len(expected) == 30
    assert _decode(tmp_path / "enc.m3u8") == expected

    (tmp_path / "content.key").write_bytes(os.urandom(16))  # the wrong key: nothing plays
    with pytest.raises(av.error.FFmpegError):
        _decode(tmp_path / "enc.m3u8")
