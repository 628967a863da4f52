"""Where events come from, in-process: creating, finishing and deleting uploads over HTTP records
upload.created, upload.finished and media.deleted in the outbox (none for a partial upload); a
finished upload finished again (HEAD) is no new delivery; and an outbox that cannot be written
makes the request 503, never 500: the client is not told the upload exists."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from tusd_py.app import WEBHOOKS
from tusd_py.db.keys import DATABASE
from tusd_py.webhooks.outbox import SqlOutbox

TUS = {"Tus-Resumable": "1.0.0"}
HOOKS = {"webhook_urls": "http://127.0.0.1:9/a,http://127.0.0.1:9/b", "webhook_secret": "sources-test-secret-01"}


async def recorded(client: Any) -> list[dict[str, Any]]:
    outbox: SqlOutbox = client.app[WEBHOOKS].outbox
    return [json.loads(d.body) | {"_url": d.url} for d in await outbox.pending()]


async def test_an_upload_life_is_recorded_once_per_event_and_url(make_client: Any) -> None:
    client = await make_client(**HOOKS)
    created = await client.post(
        "/files/", headers={**TUS, "Upload-Length": "3", "Upload-Metadata": "filename YS50eHQ="}
    )
    assert created.status == 201
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    upload = f"/files/{upload_id}"
    patch = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert (await client.patch(upload, data=b"abc", headers=patch)).status == 204
    assert (await client.head(upload, headers=TUS)).status == 200  # finishing again is no new event
    partial = await client.post("/files/", headers={**TUS, "Upload-Length": "1", "Upload-Concat": "partial"})
    assert partial.status == 201
    assert (await client.delete(upload, headers=TUS)).status == 204
    events = await recorded(client)
    mine = sorted((e["event"], e["_url"]) for e in events if e["upload_id"] == upload_id)
    assert mine == sorted(
        (event, url)
        for event in ("upload.created", "upload.finished", "media.deleted")
        for url in HOOKS["webhook_urls"].split(",")
    )
    assert all(e["upload_id"] == upload_id for e in events)  # nothing for the partial upload
    finished = next(e for e in events if e["event"] == "upload.finished")
    assert (finished["size"], finished["name"], finished["owner"]) == (3, "a.txt", "")


async def test_an_outbox_that_cannot_be_written_is_a_503_for_the_request(make_client: Any) -> None:
    client = await make_client(**HOOKS)
    async with client.app[DATABASE].engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE webhook_deliveries"))
    answer = await client.post("/files/", headers={**TUS, "Upload-Length": "3"})
    text = await answer.text()
    assert answer.status == 503 and "ERR_STORAGE_UNAVAILABLE" in text and "webhook outbox" in text, text
