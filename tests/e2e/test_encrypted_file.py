"""Encryption at rest and delivery, end to end on the embedded default (file store, in-process
queue) over a real HTTP port: nothing readable is stored, PyAV plays the signed HLS, signatures
and integrity are enforced, ranges are exact, and key rotation keeps every asset playable."""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import m3u8
import pytest
from yarl import URL

from pipeline.crypto.envelope import HEADER_SIZE, TAG_SIZE
from pipeline.crypto.segments import decrypt_segment, segment_iv
from tests.e2e.encrypted_support import (
    HLS_OPTIONS,
    TUS,
    containing,
    decode_hls,
    files_under,
    find_plaintext,
    make_marked_clip,
    swap,
    tus_upload,
    wait_ready,
)
from tusd_py.app import create_app
from tusd_py.db.records import SqlMediaRecords
from tusd_py.playback.keys import MEDIA, SIGNER
from tusd_py.settings import Settings

FRAME = 4096  # small envelope frames: the kept original spans many of them
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSD_LADDER_HEIGHTS", "240,144")  # two renditions
    monkeypatch.setenv("TUSD_X264_PRESET", "ultrafast")
    monkeypatch.setenv("TUSD_THUMBNAIL_COUNT", "2")
    monkeypatch.setenv("TUSD_SEGMENT_SECONDS", "1")
    monkeypatch.setenv("TUSD_ENVELOPE_FRAME_SIZE", str(FRAME))


@pytest.fixture
async def served(env: None, aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[tuple[str, Any, Path]]:
    data_dir = tmp_path / "data"
    app = create_app(Settings.from_flat(data_dir=str(data_dir), store="file"))
    server = await aiohttp_server(app)
    yield str(server.make_url("")).rstrip("/"), app, data_dir


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def _ready_asset(session: aiohttp.ClientSession, base: str, tmp_path: Path) -> tuple[str, bytes, dict[str, Any]]:
    marker = f"MARKER-{uuid.uuid4().hex}"
    source = make_marked_clip(tmp_path / "marked.mp4", marker).read_bytes()
    upload_id = await tus_upload(session, base, source, filename="marked.mp4", uploadedBy="carol")
    body = await wait_ready(session, base, upload_id)
    return marker, source, body


async def _get(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, bytes]:
    async with session.get(url, **kwargs) as resp:
        return resp.status, await resp.read()


async def test_nothing_readable_is_stored_and_pyav_plays_the_signed_hls(
    served: tuple[str, Any, Path], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, app, data_dir = served
    marker, source, body = await _ready_asset(session, base, tmp_path)
    # "ready" is announced first, then the plaintext upload is dropped (plaintext.py: never the
    # other way round, a crash in between would lose the source); wait for that second step
    for _ in range(300):
        record = await app[MEDIA].get(body["id"])
        if record is not None and record.source_dropped:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the source was never dropped")
    # every segment, through the signed URLs, decrypted with the key the key endpoint hands out
    status, master_text = await _get(session, body["playback_url"])
    assert status == 200
    master = m3u8.loads(master_text.decode())
    assert len(master.playlists) == 2 and all("sig=" in p.uri for p in master.playlists)
    plaintext: dict[str, bytes] = {"source": source}
    for index, variant in enumerate(master.playlists):
        status, text = await _get(session, base + variant.uri)
        media = m3u8.loads(text.decode())
        key_status, key = await _get(session, base + media.keys[0].uri)
        assert status == key_status == 200 and len(key) == 16
        for number, segment in enumerate(media.segments):
            status, cipher = await _get(session, base + segment.uri)
            assert status == 200
            plain = decrypt_segment(cipher, key, segment_iv(number, stream=index + 1))
            assert bytes.fromhex(segment.key.iv[2:]) == segment_iv(number, stream=index + 1)
            plaintext[f"rendition {index} segment {number}"] = plain
    for name in ("poster_url", "original_url", *(f"thumb{i}" for i in range(len(body["thumbnail_urls"])))):
        url = body[name] if name.endswith("_url") else body["thumbnail_urls"][int(name[5:])]
        status, plain = await _get(session, url)
        assert status == 200
        plaintext[name] = plain
    assert plaintext["original_url"] == source
    # the disk: no marker, no run of any plaintext (the upload itself is now a sparse placeholder)
    stored = files_under(data_dir)
    assert containing(stored, marker.encode()) == []
    assert find_plaintext(stored, plaintext) == []
    upload = data_dir / "uploads" / body["id"]
    assert upload.stat().st_size == len(source) and upload.stat().st_blocks == 0
    async with session.head(f"{base}/files/{body['id']}", headers=TUS) as head:
        assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(source))
    assert await _get(session, f"{base}/files/{body['id']}") == (200, source)
    # PyAV plays the master and each rendition over HTTP; every frame decodes
    streams = await asyncio.to_thread(decode_hls, body["playback_url"])
    assert sorted((w, h) for _, w, h in streams.values()) == [(192, 144), (320, 240)]
    assert all(frames >= 40 for frames, _, _ in streams.values())  # 2 s at 24 fps (a frame of slack)


async def test_forged_altered_and_expired_signatures_get_403(
    served: tuple[str, Any, Path], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, app, _ = served
    _, _, body = await _ready_asset(session, base, tmp_path)
    url = URL(body["playback_url"])
    upload_id = body["id"]
    bad = {
        "altered sig": url.update_query(sig=url.query["sig"][:-2] + "AA"),
        "altered exp": url.update_query(exp=str(int(url.query["exp"]) + 1)),
        "other path": url.with_path(f"/media/{upload_id}/hls/240p/index.m3u8"),
        "unsigned key": URL(f"{base}/media/{upload_id}/key"),
        "forged key": URL(f"{base}/media/{upload_id}/key").with_query(exp=url.query["exp"], sig=url.query["sig"]),
        "exp not a number": url.update_query(exp="soon"),
        "no exp": url.with_query(sig=url.query["sig"]),
        "sig not base64": url.update_query(sig="%%%not*base64"),
        "empty sig": url.update_query(sig=""),
    }
    signer = app[SIGNER]
    past = int(time.time()) - 5
    bad["expired"] = URL(base + signer.url(url.path, expires_at=past))
    for name, target in bad.items():
        status, text = await _get(session, str(target))
        assert status == 403, name
        assert text.startswith(b"ERR_BAD_SIGNATURE"), (name, text)
    assert b"expired" in (await _get(session, str(bad["expired"])))[1]
    for target in (bad["altered sig"], bad["expired"]):
        with pytest.raises(av.error.FFmpegError):
            await asyncio.to_thread(av.open, str(target), options=HLS_OPTIONS, timeout=10)


async def test_tampered_ciphertext_is_an_integrity_error_never_garbage(
    served: tuple[str, Any, Path], session: aiohttp.ClientSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _, data_dir = served
    _, source, body = await _ready_asset(session, base, tmp_path)
    folder = data_dir / body["master_playlist"].rsplit("/", 1)[0]
    original, poster, playlist = folder / "original", data_dir / body["poster"], folder / "240p" / "index.m3u8"
    step = FRAME + TAG_SIZE
    master = m3u8.loads((await _get(session, body["playback_url"]))[1].decode())
    variant = base + next(p.uri for p in master.playlists if p.uri.startswith(f"/media/{body['id']}/hls/240p/"))
    cases = {
        "flipped poster byte": (poster, lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], body["poster_url"]),
        "flipped header byte": (original, lambda b: b[:9] + bytes([b[9] ^ 0x80]) + b[10:], body["original_url"]),
        "truncated original": (original, lambda b: b[:-100], body["original_url"]),
        "dropped last frame": (original, lambda b: b[: HEADER_SIZE + step * ((len(b) - HEADER_SIZE) // step)], None),
        "swapped frames": (original, lambda b: swap(b, 0, 1, HEADER_SIZE, step), body["original_url"]),
        "flipped playlist byte": (
            playlist,
            lambda b: b[:-3] + bytes([b[-3] ^ 1]) + b[-2:],
            variant,
        ),
    }
    for name, (path, damage, url) in cases.items():
        pristine = path.read_bytes()
        path.write_bytes(damage(pristine))
        try:
            status, text = await _get(session, url or body["original_url"])
            assert status == 500 and text.startswith(b"ERR_INTEGRITY"), (name, status, text[:80])
        finally:
            path.write_bytes(pristine)
    # a bad frame after the headers went out: the connection is cut, the bytes never make up the body
    monkeypatch.setattr("pipeline.vault.BATCH_BYTES", FRAME)
    original.write_bytes(swap(original.read_bytes(), 5, 6, HEADER_SIZE, step))
    with pytest.raises(aiohttp.ClientPayloadError):
        await _get(session, body["original_url"])
    with pytest.raises(aiohttp.ClientPayloadError):
        await _get(session, f"{base}/files/{body['id']}")
    assert await _get(session, body["original_url"], headers={"Range": f"bytes=0-{5 * FRAME - 1}"}) == (
        206,
        source[: 5 * FRAME],
    )  # the untouched frames still serve


async def test_random_ranges_are_exactly_the_plaintext(
    served: tuple[str, Any, Path], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, _, _ = served
    _, source, body = await _ready_asset(session, base, tmp_path)
    rng = random.Random(5)
    size = len(source)
    # the plaintext left the store, and the kept original serves it: HEAD says complete, as GET serves
    async with session.head(f"{base}/files/{body['id']}", headers=TUS) as head:
        assert (head.status, head.headers["Upload-Offset"]) == (200, str(size))
    ranges = [(0, 0), (0, size - 1), (size - 1, size - 1), (FRAME - 1, FRAME), (FRAME, 2 * FRAME - 1)]
    ranges += [tuple(sorted((rng.randrange(size), rng.randrange(size)))) for _ in range(40)]
    for url in (body["original_url"], f"{base}/files/{body['id']}"):
        for start, end in ranges:
            status, got = await _get(session, url, headers={"Range": f"bytes={start}-{end}"})
            assert (status, got) == (206, source[start : end + 1]), (url, start, end)
        assert await _get(session, url, headers={"Range": "bytes=-1000"}) == (206, source[-1000:])
        assert await _get(session, url, headers={"Range": f"bytes={size - 10}-"}) == (206, source[-10:])
        assert (await _get(session, url, headers={"Range": f"bytes={size}-"}))[0] == 416
        assert (await _get(session, url, headers={"Range": "bytes=9-3"}))[0] == 416
        for ignored in ("bytes=0-1,5-9", "items=0-9", "bytes=-", "bytes=x-y"):  # RFC 9110: send it whole
            assert await _get(session, url, headers={"Range": ignored}) == (200, source), ignored


async def _keys_cli(data_dir: Path, *args: str) -> tuple[int, str]:
    env = {"PATH": "/usr/bin:/bin", "TUSD_DATA_DIR": str(data_dir), "TUSD_STORE": "file", "HOME": str(data_dir)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tusd_py", "keys", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_rotation_then_retiring_the_old_kek_keeps_every_asset_playable(
    served: tuple[str, Any, Path], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, app, data_dir = served
    _, source, body = await _ready_asset(session, base, tmp_path)
    records = getattr(app[MEDIA], "inner", app[MEDIA])  # the database the CLI (another process) changes too
    assert isinstance(records, SqlMediaRecords)
    before = await records.get(body["id"])
    assert before is not None
    code, listing = await _keys_cli(data_dir, "list")
    old_kid = listing.split("\t", 1)[0]
    assert code == 0 and "active\t1 assets" in listing
    assert (await _keys_cli(data_dir, "retire", old_kid))[0] == 1  # the active KEK is never retired
    code, out = await _keys_cli(data_dir, "rotate")
    assert code == 0 and "rewrapped 1 data keys" in out, out
    rotated = await records.get(body["id"])
    assert rotated is not None and old_kid not in rotated.to_json()
    assert (data_dir / "keys" / "previous" / f"{old_kid}.key").exists()
    await records.put(before)  # an asset still wrapped under the old KEK: retiring must refuse
    code, out = await _keys_cli(data_dir, "retire", old_kid)
    assert code == 1 and "still wraps 1" in out, out
    assert (await _keys_cli(data_dir, "rotate", "--rewrap"))[0] == 0
    code, out = await _keys_cli(data_dir, "retire", old_kid)
    assert code == 0 and not (data_dir / "keys" / "previous" / f"{old_kid}.key").exists(), out
    fresh = await wait_ready(session, base, body["id"])  # the running server reloads its key ring
    assert await _get(session, fresh["original_url"]) == (200, source)
    streams = await asyncio.to_thread(decode_hls, fresh["playback_url"])
    assert len(streams) == 2 and all(frames >= 40 for frames, _, _ in streams.values())
