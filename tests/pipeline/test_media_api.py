"""GET /media/{id} and its event stream, over the real app with records written as a job would."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from pipeline.contract import MediaRecord, MediaState, RenditionInfo
from pipeline.records import update
from tusd_py.db.records import LocalNotifier, SqlMediaRecords
from tusd_py.playback import status as media
from tusd_py.playback.keys import MEDIA

Client = TestClient[web.Request, web.Application]
TUS = {"Tus-Resumable": "1.0.0"}


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def _upload(client: Client, data: bytes, *, send: int | None = None, **meta: str) -> str:
    headers = {**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": _meta(**meta)}
    resp = await client.post("/files/", headers=headers)
    assert resp.status == 201
    upload_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    body = data[: len(data) if send is None else send]
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    resp = await client.patch(f"/files/{upload_id}", data=body, headers=headers)
    assert resp.status == 204
    return upload_id


def _records(client: Client) -> SqlMediaRecords:
    records = getattr(client.app[MEDIA], "inner", client.app[MEDIA])  # under the server's StatusRecords
    assert isinstance(records, SqlMediaRecords)
    return records


def _ready(upload_id: str) -> MediaRecord:
    return MediaRecord(
        upload_id=upload_id,
        state=MediaState.READY,
        progress=100,
        kind="video",
        duration=1.5,
        master_playlist="master.m3u8",
        renditions=[
            RenditionInfo(
                name="240p", width=320, height=240, bandwidth=500_000, codecs="avc1", playlist="240p/index.m3u8"
            )
        ],
        poster="poster.jpg",
        thumbnails=["thumb_000.jpg"],
        attempt="t1-x",
        output_prefix=f"media/{upload_id}/t1-x/",
    )


async def test_finished_upload_without_a_record_is_queued(client: Client) -> None:
    upload_id = await _upload(client, b"x" * 100, uploadedBy="alice", filename="a.mp4")
    resp = await client.get(f"/media/{upload_id}")
    assert resp.status == 200
    body = await resp.json()
    assert body["state"] == "queued" and body["progress"] == 0
    assert body["reason"] is None and body["renditions"] == [] and body["poster"] is None
    assert body["uploaded_by"] == "alice"
    assert (body["upload_offset"], body["upload_length"]) == (100, 100)


async def test_unfinished_upload_is_uploading_and_uploader_falls_back_to_username(client: Client) -> None:
    upload_id = await _upload(client, b"x" * 100, send=40, username="bob")
    body = await (await client.get(f"/media/{upload_id}")).json()
    assert body["state"] == "uploading"
    assert (body["upload_offset"], body["upload_length"], body["uploaded_by"]) == (40, 100, "bob")


async def test_ready_record_shows_renditions_and_poster_as_storage_keys(client: Client) -> None:
    upload_id = await _upload(client, b"x" * 10)
    await _records(client).put(_ready(upload_id))
    body = await (await client.get(f"/media/{upload_id}")).json()
    assert body["state"] == "ready" and body["progress"] == 100 and body["reason"] is None
    prefix = f"media/{upload_id}/t1-x/"
    assert body["renditions"] == [
        {
            "name": "240p",
            "width": 320,
            "height": 240,
            "bandwidth": 500_000,
            "codecs": "avc1",
            "playlist": prefix + "240p/index.m3u8",
        }
    ]
    assert body["poster"] == prefix + "poster.jpg"
    assert body["master_playlist"] == prefix + "master.m3u8"
    assert body["thumbnails"] == [prefix + "thumb_000.jpg"]
    assert body["uploaded_by"] is None


async def test_failed_record_carries_its_reason(client: Client) -> None:
    upload_id = await _upload(client, b"x" * 10)
    await _records(client).put(MediaRecord(upload_id=upload_id, state=MediaState.FAILED, reason="not a media file"))
    body = await (await client.get(f"/media/{upload_id}")).json()
    assert (body["state"], body["reason"], body["renditions"]) == ("failed", "not a media file", [])


@pytest.mark.parametrize("path", ["/media/{id}", "/media/{id}/events"])
async def test_unknown_upload_is_404(client: Client, path: str) -> None:
    resp = await client.get(path.format(id="doesnotexist"))
    assert resp.status == 404


async def _read_events(resp: Any) -> list[tuple[str, dict[str, Any]]]:
    """Parse SSE frames until the server ends the stream; comments are skipped."""
    events, name, data = [], "message", ""
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            events.append((name, json.loads(data)))
            name, data = "message", ""
    return events


async def test_events_push_progress_then_ready_and_end(client: Client) -> None:
    upload_id = await _upload(client, b"x" * 10)
    records = _records(client)
    resp = await client.get(f"/media/{upload_id}/events")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    reader = asyncio.create_task(_read_events(resp))
    await asyncio.sleep(0.05)
    for percent in (10.0, 55.5):
        await update(
            records,
            upload_id,
            lambda c, p=percent: (c or MediaRecord(upload_id=upload_id)).evolve(
                state=MediaState.PROCESSING, progress=p
            ),
        )
    await records.put(_ready(upload_id).model_copy(update={"version": 0}))
    events = await asyncio.wait_for(reader, 10)
    assert [(name, body["state"], body["progress"]) for name, body in events] == [
        ("progress", "queued", 0.0),
        ("progress", "processing", 10.0),
        ("progress", "processing", 55.5),
        ("ready", "ready", 100.0),
    ]
    assert events[-1][1]["poster"] == f"media/{upload_id}/t1-x/poster.jpg"


async def test_events_of_a_finished_job_end_at_once(client: Client) -> None:
    upload_id = await _upload(client, b"x" * 10)
    await _records(client).put(MediaRecord(upload_id=upload_id, state=MediaState.FAILED, reason="truncated"))
    resp = await client.get(f"/media/{upload_id}/events")
    events = await asyncio.wait_for(_read_events(resp), 10)
    assert [(name, body["reason"]) for name, body in events] == [("failed", "truncated")]


async def test_a_stored_file_is_final_with_its_reason_and_still_downloads_as_sent(client: Client) -> None:
    upload_id = await _upload(client, b"hello")
    records = _records(client)
    resp = await client.get(f"/media/{upload_id}/events")
    reader = asyncio.create_task(_read_events(resp))
    await asyncio.sleep(0.05)
    stored = MediaRecord(
        upload_id=upload_id, state=MediaState.STORED, progress=100, kind="file", reason="not a media file: invalid data"
    )
    await records.put(stored)
    events = await asyncio.wait_for(reader, 10)  # the stream ends on stored, as on ready and failed
    assert [(name, body["state"]) for name, body in events] == [("progress", "queued"), ("stored", "stored")]
    body = await (await client.get(f"/media/{upload_id}")).json()
    assert (body["state"], body["kind"], body["progress"]) == ("stored", "file", 100)
    assert body["reason"] == "not a media file: invalid data" and body["renditions"] == []
    assert "playback_url" not in body
    download = await client.get(f"/files/{upload_id}", headers=TUS)
    assert download.status == 200 and await download.read() == b"hello"


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    return {k for v in value for k in _keys(v)} if isinstance(value, list) else set()


async def test_every_status_key_is_snake_case(client: Client) -> None:
    """One naming convention in every JSON body, as the delivery URLs (playback_url...)."""
    upload_id = await _upload(client, b"x" * 10, uploadedBy="alice")
    queued = await (await client.get(f"/media/{upload_id}")).json()
    await _records(client).put(_ready(upload_id))
    ready = await (await client.get(f"/media/{upload_id}")).json()
    events = await asyncio.wait_for(_read_events(await client.get(f"/media/{upload_id}/events")), 10)
    keys = _keys([queued, ready, *(body for _, body in events)])
    assert {k for k in keys if k != k.lower()} == set()
    assert {"master_playlist", "uploaded_by", "upload_offset", "upload_length", "updated_at"} <= keys
    assert (ready["uploaded_by"], ready["upload_offset"], ready["upload_length"]) == ("alice", 10, 10)


async def test_idle_event_stream_sends_heartbeats(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "HEARTBEAT", 0.05)
    upload_id = await _upload(client, b"x" * 10)
    resp = await client.get(f"/media/{upload_id}/events")
    lines = []
    while len([line for line in lines if line.startswith(b": keep-alive")]) < 2:
        lines.append(await asyncio.wait_for(resp.content.readline(), 5))
    assert lines[0].startswith(b"id: 0")
    resp.close()


async def test_a_client_leaving_the_stream_unsubscribes(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "HEARTBEAT", 0.05)  # the next keep-alive write notices the hang-up
    upload_id = await _upload(client, b"x" * 10)
    notifier = _records(client).notifier
    assert isinstance(notifier, LocalNotifier)  # the embedded default: watchers in this process
    resp = await client.get(f"/media/{upload_id}/events")
    await asyncio.wait_for(resp.content.readline(), 5)
    assert upload_id in notifier.broadcaster.queues
    resp.close()
    for _ in range(200):
        if upload_id not in notifier.broadcaster.queues:
            break
        await asyncio.sleep(0.02)
    assert upload_id not in notifier.broadcaster.queues
    resp = await client.get(f"/media/{upload_id}")  # the server is fine
    assert resp.status == 200
