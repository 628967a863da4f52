"""Issue 13's promise: a Redis FLUSHALL loses no asset. The production shape (S3 on moto over
HTTP, Redis, the arq worker, a local master key) with the SQL database on SQLite and on the
private PostgreSQL: an asset made ready, then FLUSHALL, then the same asset still has its
status, a signed playback URL that PyAV plays, a working key endpoint, and its original."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import m3u8
import pytest
import redis.asyncio

from tests.e2e.encrypted_support import decode_hls, make_marked_clip, tus_upload, wait_ready
from tusd_py.app import create_app
from tusd_py.settings import Settings
from tusd_py.state.memory import MemoryLocker
from tusd_py.worker import create_worker


@pytest.fixture
def small_ladder(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "TUSD_LADDER_HEIGHTS": "144",
        "TUSD_X264_PRESET": "ultrafast",
        "TUSD_THUMBNAIL_COUNT": "1",
        "TUSD_SEGMENT_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty: the default SQLite file in TUSD_DATA_DIR; else a fresh database on the private cluster."""
    return "" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def _key_and_playlist(session: aiohttp.ClientSession, base: str, playback_url: str) -> tuple[int, bytes]:
    async with session.get(playback_url) as resp:
        assert resp.status == 200
        master = m3u8.loads(await resp.text())
    async with session.get(base + master.playlists[0].uri) as resp:
        assert resp.status == 200
        media = m3u8.loads(await resp.text())
    async with session.get(base + media.keys[0].uri) as resp:
        return resp.status, await resp.read()


async def test_a_ready_asset_survives_redis_flushall(
    small_ladder: None,
    database_url: str,
    aiohttp_server: Any,
    session: aiohttp.ClientSession,
    moto_endpoint: str,
    s3_bucket: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    settings = Settings.from_flat(
        data_dir=str(tmp_path / "data"),
        store="s3",
        s3_bucket=s3_bucket,
        s3_endpoint_url=moto_endpoint,
        s3_path_style=True,
        master_key=os.urandom(32).hex(),
        url_signing_secret=uuid.uuid4().hex,
        redis_url=redis_url,
        database_url=database_url,
    )
    server = await aiohttp_server(create_app(settings, locker=MemoryLocker()))
    base = str(server.make_url("")).rstrip("/")
    source = make_marked_clip(tmp_path / "clip.mp4", f"MARKER-{uuid.uuid4().hex}").read_bytes()
    upload_id = await tus_upload(session, base, source, filename="clip.mp4")
    worker = create_worker(settings, burst=True, poll_delay=0, handle_signals=False)
    try:
        await worker.main()
        assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    finally:
        await worker.close()
    before = await wait_ready(session, base, upload_id, timeout=10)
    key_before = await _key_and_playlist(session, base, before["playback_url"])
    assert key_before[0] == 200 and len(key_before[1]) == 16

    flush = redis.asyncio.Redis.from_url(redis_url)
    try:
        await flush.flushall()
        assert await flush.dbsize() == 0
    finally:
        await flush.aclose()

    after = await wait_ready(session, base, upload_id, timeout=10)
    assert after["state"] == "ready" and after["playback_url"]
    assert await _key_and_playlist(session, base, after["playback_url"]) == key_before  # the same data key
    streams = await asyncio.to_thread(decode_hls, after["playback_url"])
    assert [(w, h) for _, w, h in streams.values()] == [(192, 144)]
    assert all(frames >= 40 for frames, _, _ in streams.values())
    async with session.get(after["original_url"]) as resp:
        assert resp.status == 200 and await resp.read() == source


async def _login(session: aiohttp.ClientSession, base: str, email: str, *, register: bool = False) -> dict[str, str]:
    account = {"email": email, "password": "correct horse battery staple"}
    if register:
        async with session.post(f"{base}/auth/register", json=account) as resp:
            assert resp.status == 201, await resp.text()
    async with session.post(f"{base}/auth/login", json=account) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


async def _status(session: aiohttp.ClientSession, base: str, upload_id: str, auth: dict[str, str]) -> Any:
    async with session.get(f"{base}/media/{upload_id}", headers=auth) as resp:
        return resp.status, await resp.json() if resp.status == 200 else await resp.text()


async def test_users_ownership_and_assets_survive_redis_flushall(
    small_ladder: None,
    database_url: str,
    aiohttp_server: Any,
    moto_endpoint: str,
    s3_bucket: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """With accounts: after FLUSHALL (every refresh session gone with Redis) the users log in again
    with the same passwords, the owner gets the asset and plays it, the other user still gets 404."""
    settings = Settings.from_flat(
        data_dir=str(tmp_path / "data"),
        store="s3",
        s3_bucket=s3_bucket,
        s3_endpoint_url=moto_endpoint,
        s3_path_style=True,
        master_key=os.urandom(32).hex(),
        url_signing_secret=uuid.uuid4().hex,
        redis_url=redis_url,
        database_url=database_url,
        auth="local",
        jwt_secret=uuid.uuid4().hex,
        cookie_secure=False,
    )
    server = await aiohttp_server(create_app(settings, locker=MemoryLocker()))
    base = str(server.make_url("")).rstrip("/")
    source = make_marked_clip(tmp_path / "clip.mp4", f"MARKER-{uuid.uuid4().hex}").read_bytes()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        ann = await _login(session, base, "ann@example.com", register=True)
        await _login(session, base, "bob@example.com", register=True)
        headers = {**ann, "Tus-Resumable": "1.0.0"}
        async with session.post(f"{base}/files/", headers={**headers, "Upload-Length": str(len(source))}) as resp:
            assert resp.status == 201, await resp.text()
            upload_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        patch = {**headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        async with session.patch(f"{base}/files/{upload_id}", data=source, headers=patch) as resp:
            assert resp.status == 204, await resp.text()
        worker = create_worker(settings, burst=True, poll_delay=0, handle_signals=False)
        try:
            await worker.main()
            assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
        finally:
            await worker.close()
        status, body = await _status(session, base, upload_id, ann)
        assert status == 200 and body["state"] == "ready", body

        flush = redis.asyncio.Redis.from_url(redis_url)
        try:
            await flush.flushall()
        finally:
            await flush.aclose()

        ann = await _login(session, base, "ann@example.com")  # the account is in the database
        bob = await _login(session, base, "bob@example.com")
        status, body = await _status(session, base, upload_id, ann)
        assert status == 200 and body["state"] == "ready", body
        assert (await _status(session, base, upload_id, bob))[0] == 404  # ownership kept: not bob's
        key = await _key_and_playlist(session, base, body["playback_url"])
        assert key[0] == 200 and len(key[1]) == 16
    streams = await asyncio.to_thread(decode_hls, body["playback_url"])
    assert [(w, h) for _, w, h in streams.values()] == [(192, 144)]
