"""The publish step: outputs appear only through one record switch, and exactly one attempt wins."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.assets import AssetNotFound, FileAssetStore, S3AssetStore
from pipeline.contract import MediaRecord, MediaState, output_prefix
from pipeline.crypto.keys import LocalKEK
from pipeline.crypto.segments import decrypt_segment, segment_iv
from pipeline.publish import Publisher
from pipeline.records import FileMediaRecords
from pipeline.vault import MediaVault
from tusd_py.stores.s3.client import open_client


def _outputs(root: Path, tag: str) -> tuple[Path, dict[str, Any]]:
    """An output folder shaped like the transcoder's, with ``tag`` in every file."""
    out = root / f"work-{tag}" / "out"
    (out / "240p").mkdir(parents=True)
    (out / "master.m3u8").write_text(f"#EXTM3U\n# {tag}\n240p/index.m3u8\n")
    (out / "240p" / "index.m3u8").write_text(f"#EXTM3U\n# {tag}\n#EXTINF:1.0,\nseg_00000.ts\n")
    (out / "240p" / "seg_00000.ts").write_bytes(tag.encode() * 100)
    (out / "poster.jpg").write_bytes(b"\xff\xd8" + tag.encode())
    outcome = {
        "probe": {"kind": "video", "duration": 1.0},
        "hls": {
            "master_playlist": "master.m3u8",
            "renditions": [
                {
                    "name": "240p",
                    "width": 320,
                    "height": 240,
                    "bandwidth": 400000,
                    "codecs": "avc1.64000d,mp4a.40.2",
                    "playlist": "240p/index.m3u8",
                }
            ],
            "duration": 1.0,
        },
        "thumbs": {"poster": "poster.jpg", "thumbnails": []},
    }
    return out, outcome


async def _claim(records: FileMediaRecords, attempt: str) -> MediaRecord:
    current = await records.get("up1")
    record = (current or MediaRecord(upload_id="up1")).evolve(state=MediaState.PROCESSING, attempt=attempt)
    return await records.put(record)


KEK = LocalKEK("test-kek", bytes(range(32)))


@pytest.fixture
def parts(tmp_path: Path) -> tuple[FileAssetStore, FileMediaRecords, Publisher]:
    assets, records = FileAssetStore(tmp_path / "data"), FileMediaRecords(tmp_path / "data")
    return assets, records, Publisher(assets, records, KEK)


async def plain(assets: FileAssetStore, record: MediaRecord, relative: str) -> bytes:
    """A stored output, decrypted as delivery does (segments by hand: delivery never decrypts them)."""
    vault = MediaVault(FileMediaRecords("/nonexistent"), KEK, assets)
    if relative.endswith(".ts"):
        key = await vault.hls_key(record)
        return decrypt_segment(await assets.get_bytes(record.asset_key(relative)), key, segment_iv(0, stream=1))
    obj = await vault.open(record, relative)
    return b"".join([chunk async for chunk in obj.stream(0, obj.size)])


async def test_publish_writes_under_the_attempt_prefix_and_switches_once(
    parts: tuple[FileAssetStore, FileMediaRecords, Publisher], tmp_path: Path
) -> None:
    assets, records, publisher = parts
    claimed = await _claim(records, "a1")
    out, outcome = _outputs(tmp_path, "a1")
    ready = await publisher.publish(claimed, out, outcome)
    assert ready.state is MediaState.READY and ready.progress == 100
    assert ready.output_prefix == output_prefix("up1", "a1") == "media/up1/a1/"
    assert [r.playlist for r in ready.renditions] == ["240p/index.m3u8"]
    assert ready.poster == "poster.jpg" and ready.master_playlist == "master.m3u8"
    assert await assets.list("media/up1/a1/") == [
        "media/up1/a1/240p/index.m3u8",
        "media/up1/a1/240p/seg_00000.ts",
        "media/up1/a1/manifest.json",
        "media/up1/a1/master.m3u8",
        "media/up1/a1/poster.jpg",
    ]
    assert await plain(assets, ready, "240p/seg_00000.ts") == b"a1" * 100
    assert await assets.get_bytes(ready.asset_key("240p/seg_00000.ts")) != b"a1" * 100
    assert ready.data_key["kek_id"] == "test-kek" and ready.manifest == "manifest.json"
    assert await records.get("up1") == ready


async def test_a_duplicate_that_finishes_second_leaves_no_trace(
    parts: tuple[FileAssetStore, FileMediaRecords, Publisher], tmp_path: Path
) -> None:
    assets, records, publisher = parts
    first = await _claim(records, "a1")
    second = await _claim(records, "a2")  # the duplicate took the record over meanwhile
    out2, outcome2 = _outputs(tmp_path, "a2")
    out1, outcome1 = _outputs(tmp_path, "a1")
    winner = await publisher.publish(second, out2, outcome2)
    loser = await publisher.publish(first, out1, outcome1)
    assert winner.attempt == loser.attempt == "a2"
    keys = await assets.list("media/up1/")
    assert {k.split("/")[2] for k in keys if k.count("/") >= 3} == {"a2"}
    assert await plain(assets, winner, "master.m3u8") == (out2 / "master.m3u8").read_bytes()
    stored = await records.get("up1")
    assert stored is not None and stored.output_prefix == "media/up1/a2/" and stored.state is MediaState.READY


async def test_leftovers_of_killed_attempts_are_removed_after_the_switch(
    parts: tuple[FileAssetStore, FileMediaRecords, Publisher], tmp_path: Path
) -> None:
    assets, records, publisher = parts
    await assets.put_bytes("media/up1/dead/240p/seg_00000.ts", b"half")  # a killed run's partial output
    (tmp_path / "data" / "media" / "up1" / "dead" / ".seg.tmp").write_bytes(b"x")
    claimed = await _claim(records, "a3")
    out, outcome = _outputs(tmp_path, "a3")
    await publisher.publish(claimed, out, outcome)
    assert not (tmp_path / "data" / "media" / "up1" / "dead").exists()
    assert all(key.startswith("media/up1/a3/") for key in await assets.list("media/up1/a"))
    record = await records.get("up1")  # the switch stands: the cleanup removed attempts only
    assert record is not None and record.state is MediaState.READY and record.attempt == "a3"


async def test_file_asset_store_refuses_keys_outside_media(tmp_path: Path) -> None:
    assets = FileAssetStore(tmp_path)
    for key in ("uploads/abc", "media/../uploads/abc", "media//x"):
        with pytest.raises(ValueError):
            await assets.put_bytes(key, b"x")
    with pytest.raises(AssetNotFound):
        await assets.get_bytes("media/none")


@pytest.fixture
async def s3_assets(moto_endpoint: str, s3_bucket: str) -> AsyncIterator[S3AssetStore]:
    async with open_client(endpoint_url=moto_endpoint, path_style=True) as client:
        yield S3AssetStore(client, s3_bucket)


async def test_s3_asset_store_round_trip(s3_assets: S3AssetStore, tmp_path: Path) -> None:
    source = tmp_path / "seg.ts"
    source.write_bytes(bytes(range(256)) * 4)
    await s3_assets.put_file("media/u/a/240p/seg.ts", source)
    await s3_assets.put_bytes("media/u/a/master.m3u8", b"#EXTM3U\n")
    await s3_assets.put_bytes("media/u/b/master.m3u8", b"#EXTM3U\n")
    assert await s3_assets.get_bytes("media/u/a/240p/seg.ts") == source.read_bytes()
    assert await s3_assets.read_range("media/u/a/240p/seg.ts", 10, 20) == bytes(range(10, 20))
    assert await s3_assets.list("media/u/a/") == ["media/u/a/240p/seg.ts", "media/u/a/master.m3u8"]
    assert await s3_assets.delete_prefix("media/u/a/") == 2
    assert await s3_assets.list("media/u/") == ["media/u/b/master.m3u8"]
    with pytest.raises(AssetNotFound):
        await s3_assets.get_bytes("media/u/a/master.m3u8")


async def test_s3_asset_store_sends_large_files_in_parts(s3_assets: S3AssetStore, tmp_path: Path) -> None:
    """Above the multipart threshold a file goes up 8 MiB at a time (memory stays flat)."""
    from pipeline.assets import MULTIPART_THRESHOLD

    big = tmp_path / "original"
    block = os.urandom(1024 * 1024)
    big.write_bytes(block * (MULTIPART_THRESHOLD // len(block) + 1) + b"tail")
    await s3_assets.put_file("media/u/a/original", big)
    assert await s3_assets.size("media/u/a/original") == big.stat().st_size
    assert (
        await s3_assets.read_range("media/u/a/original", big.stat().st_size - 10, big.stat().st_size)
        == (big.read_bytes()[-10:])
    )
    kind, url = await s3_assets.locate("media/u/a/original", ttl=60)
    assert kind == "url" and "Signature" in url and "original" in url
