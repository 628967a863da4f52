"""Webhooks from a real ``tusd-py serve`` to a real receiver: an upload's life arrives as signed
events (created, finished, media.ready for a stored file, deleted), after the receiver refused
the first attempts with 500; and a delivery pending when the server stops arrives after its
restart."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiohttp

from tests.adversarial.server import Server, start_server
from tests.fixtures.moto_server import free_port
from tests.webhooks.receiver import Receiver, receiving
from tusd_py.webhooks import signing

SECRET = "server-test-secret-0123456789"
TUS = {"Tus-Resumable": "1.0.0"}


def hook_env(url: str) -> dict[str, str]:
    return {
        "TUSD_WEBHOOK_URLS": url,
        "TUSD_WEBHOOK_SECRET": SECRET,
        "TUSD_WEBHOOK_BACKOFF": "0.2",
        "TUSD_WEBHOOK_POLL_INTERVAL": "0.2",
        "TUSD_WEBHOOK_TIMEOUT": "5",
        "TUSD_LOG_LEVEL": "info",
    }


async def start(tmp: Path, env: dict[str, str]) -> Server:
    return await asyncio.to_thread(start_server, tmp, env)  # the receiver answers meanwhile


async def upload(http: aiohttp.ClientSession, server: Server, data: bytes, name: str) -> str:
    meta = "filename " + base64.b64encode(name.encode()).decode()
    headers = {**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    async with http.post(f"{server.url}/files/", headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        location = resp.headers["Location"]
    patch = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    async with http.patch(location, data=data, headers=patch) as resp:
        assert resp.status == 204, await resp.text()
    return location


def verified(receiver: Receiver, event: str) -> dict[str, object]:
    [delivery] = receiver.accepted(event)
    headers = delivery.headers
    assert signing.verify(SECRET, delivery.body, headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER])
    return delivery.document


async def test_an_upload_life_arrives_as_signed_events(tmp_path: Path) -> None:
    async with receiving(statuses=[500, 500]) as receiver, aiohttp.ClientSession() as http:
        server = await start(tmp_path, hook_env(receiver.url))
        try:
            location = await upload(http, server, b"hello", "note.txt")
            upload_id = location.rsplit("/", 1)[1]
            await receiver.wait_for(1, "media.ready", timeout=60)
            async with http.delete(location, headers=TUS) as resp:
                assert resp.status == 204
            await receiver.wait_for(1, "media.deleted")
        finally:
            await asyncio.to_thread(server.stop)
    assert [r.status for r in receiver.received[:2]] == [500, 500]  # refused, then retried
    created, finished = verified(receiver, "upload.created"), verified(receiver, "upload.finished")
    ready, deleted = verified(receiver, "media.ready"), verified(receiver, "media.deleted")
    for document in (created, finished, ready, deleted):
        assert document["upload_id"] == upload_id
    for document in (created, finished, ready):
        assert (document["owner"], document["size"], document["name"]) == ("", 5, "note.txt")
    assert ready["state"] == "stored" and ready["media_url"] == f"/media/{upload_id}"
    assert len({d["id"] for d in (created, finished, ready, deleted)}) == 4
    order = [r.document["event"] for r in receiver.accepted()]
    assert order.index("upload.created") < order.index("upload.finished") < order.index("media.deleted")


async def test_a_delivery_pending_at_shutdown_arrives_after_the_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"  # nobody listens there yet
    async with aiohttp.ClientSession() as http:
        server = await start(tmp_path, hook_env(url))
        try:
            meta = {**TUS, "Upload-Length": "10"}
            async with http.post(f"{server.url}/files/", headers=meta) as resp:
                assert resp.status == 201
                upload_id = resp.headers["Location"].rsplit("/", 1)[1]
            await asyncio.sleep(1.0)  # a few refused attempts
        finally:
            await asyncio.to_thread(server.stop)
        assert "webhook_failed" in server.log.read_text()
        async with receiving(port=port) as receiver:
            server = await start(tmp_path, hook_env(url))
            try:
                [delivery] = await receiver.wait_for(1, "upload.created", timeout=30)
            finally:
                await asyncio.to_thread(server.stop)
    document = delivery.document
    assert document["upload_id"] == upload_id and document["size"] == 10
    headers = delivery.headers
    assert signing.verify(SECRET, delivery.body, headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER])
