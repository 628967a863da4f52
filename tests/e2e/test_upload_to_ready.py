"""From a tus upload over HTTP (the real app) to a ready HLS asset: the embedded default with its
in-process queue, a restart that picks up a handed-off upload, and the arq worker with Redis."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import m3u8
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.pipeline.test_jobs import make_clip
from tusd_py.app import create_app
from tusd_py.settings import Settings
from tusd_py.state.memory import MemoryLocker
from tusd_py.worker import create_worker

Client = TestClient[web.Request, web.Application]
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(autouse=True)
def small_ladder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded pipeline reads its ladder from TUSD_*: keep it small and fast."""
    monkeypatch.setenv("TUSD_LADDER_HEIGHTS", "240")
    monkeypatch.setenv("TUSD_X264_PRESET", "ultrafast")
    monkeypatch.setenv("TUSD_THUMBNAIL_COUNT", "2")


async def create(client: Client, size: int, **meta: str) -> str:
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    resp = await client.post("/files/", headers={**TUS, "Upload-Length": str(size), "Upload-Metadata": encoded})
    assert resp.status == 201
    return resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]


async def send(client: Client, upload_id: str, data: bytes) -> None:
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    resp = await client.patch(f"/files/{upload_id}", data=data, headers=headers)
    assert resp.status == 204 and resp.headers["Upload-Offset"] == str(len(data))


async def read_events(resp: Any) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], "message"
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


async def upload_and_watch(client: Client, data: bytes, run_worker: Callable[[], Awaitable[Any]] | None = None) -> str:
    """Create, subscribe to the events, send the bytes, and follow the stream to the end."""
    upload_id = await create(client, len(data), filename="clip.mp4", uploadedBy="carol")
    stream = await client.get(f"/media/{upload_id}/events")
    assert stream.status == 200
    reader = asyncio.create_task(read_events(stream))
    await send(client, upload_id, data)
    if run_worker is not None:
        await run_worker()
    events = await asyncio.wait_for(reader, 120)
    states = [body["state"] for _, body in events]
    assert states[0] == "uploading" and states[-1] == "ready" and "processing" in states
    assert [name for name, _ in events][-1] == "ready"
    assert all(name == "progress" for name, _ in events[:-1])
    progress = [body["progress"] for _, body in events if body["state"] == "processing"]
    assert progress == sorted(progress) and events[-1][1]["progress"] == 100
    return upload_id


async def check_ready(client: Client, upload_id: str, data_dir: Path) -> None:
    """Ready, and every output reachable through the signed delivery URLs (stored encrypted)."""
    resp = await client.get(f"/media/{upload_id}")
    body = await resp.json()
    assert body["state"] == "ready" and body["reason"] is None and body["uploaded_by"] == "carol"
    assert body["upload_offset"] == body["upload_length"] > 0
    assert [(r["width"], r["height"]) for r in body["renditions"]] == [(320, 240)]
    assert (data_dir / body["master_playlist"]).read_bytes()[:4] == b"TPYE"  # the envelope, not a playlist
    master_resp = await client.get(URL(body["playback_url"]).path_qs)
    assert master_resp.status == 200
    master = m3u8.loads(await master_resp.text())
    assert [p.stream_info.resolution for p in master.playlists] == [(320, 240)]
    poster = await client.get(URL(body["poster_url"]).path_qs)
    assert poster.status == 200 and (await poster.read())[:2] == b"\xff\xd8"
    for variant in master.playlists:
        media = m3u8.loads(await (await client.get(variant.uri)).text())
        assert media.keys[0] is not None and media.keys[0].method == "AES-128"
        for segment in media.segments:
            assert (await client.get(segment.uri)).status == 200


async def test_embedded_default_processes_a_tus_upload_to_ready(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    client: Client = await aiohttp_client(create_app(settings))  # with the in-process queue running
    upload_id = await upload_and_watch(client, make_clip(tmp_path / "clip.mp4").read_bytes())
    await check_ready(client, upload_id, Path(settings.storage.data_dir))


async def test_a_restart_picks_up_handed_off_but_unprocessed_uploads(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    data = make_clip(tmp_path / "clip.mp4").read_bytes()
    before: Client = await aiohttp_client(create_app(settings, background=False))  # its queue never runs
    upload_id = await create(before, len(data), uploadedBy="carol")
    await send(before, upload_id, data)
    assert (await (await before.get(f"/media/{upload_id}")).json())["state"] == "queued"
    await before.close()  # the server stops with the job still queued in memory
    after: Client = await aiohttp_client(create_app(settings))
    for _ in range(600):
        body = await (await after.get(f"/media/{upload_id}")).json()
        if body["state"] in ("ready", "failed"):
            break
        await asyncio.sleep(0.1)
    await check_ready(after, upload_id, Path(settings.storage.data_dir))


async def test_arq_worker_processes_a_tus_upload_to_ready(
    aiohttp_client: Any, make_settings: Callable[..., Settings], redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(redis_url=redis_url)
    app = create_app(settings, locker=MemoryLocker())  # hand-off through arq, records in Redis
    client: Client = await aiohttp_client(app)

    async def burst() -> None:
        worker = create_worker(settings, burst=True, poll_delay=0, handle_signals=False)
        try:
            await worker.main()
            assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
        finally:
            await worker.close()

    upload_id = await upload_and_watch(client, make_clip(tmp_path / "clip.mp4").read_bytes(), burst)
    await check_ready(client, upload_id, Path(settings.storage.data_dir))
