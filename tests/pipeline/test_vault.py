"""The vault's media playlists: a long one is rewritten in a thread, off the event loop."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pipeline.assets import FileAssetStore
from pipeline.contract import MediaRecord, RenditionInfo
from pipeline.records import FileMediaRecords
from pipeline.vault import INLINE_SEGMENTS, MediaVault


def playlist(segments: int) -> str:
    body = "".join(f"#EXTINF:2.000,\nseg_{i:05d}.ts\n" for i in range(segments))
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n{body}#EXT-X-ENDLIST\n"


@pytest.mark.parametrize(("segments", "in_a_thread"), [(INLINE_SEGMENTS, False), (INLINE_SEGMENTS + 1, True)])
async def test_a_long_media_playlist_is_rewritten_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, segments: int, in_a_thread: bool
) -> None:
    record = MediaRecord(upload_id="u1", renditions=[RenditionInfo(name="240p", playlist="240p/index.m3u8")])
    vault = MediaVault(FileMediaRecords(str(tmp_path)), None, FileAssetStore(str(tmp_path)))

    async def read_text(record: MediaRecord, relative: str) -> str:
        return playlist(segments)

    monkeypatch.setattr(vault, "read_text", read_text)
    threads: set[int] = set()

    def signed(uri: str) -> str:
        threads.add(threading.get_ident())
        return f"/signed/{uri}"

    text = await vault.media_playlist(record, "240p/index.m3u8", "/key", signed)
    assert text.count("/signed/seg_") == segments and text.count("#EXT-X-KEY:METHOD=AES-128") == segments
    assert (threads != {threading.get_ident()}) is in_a_thread
