"""GET /media: the caller's finished uploads, newest first, by cursor pages, with each item's
processing state; bad limits and cursors are 400."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.contract import MediaRecord, MediaState
from tests.web.helpers import OCTET, TUS, b64, path_of
from tusd_py.playback.keys import MEDIA

from .accounts import login
from .conftest import MakeAuthClient


async def _upload(client: Any, auth: dict[str, str], data: bytes, name: str = "", **headers: str) -> str:
    sent = {**TUS, **auth, "Upload-Length": str(len(data)), "Content-Type": OCTET, **headers}
    if name:
        sent["Upload-Metadata"] = f"filename {b64(name)},filetype {b64('video/mp4')}"
    response = await client.post("/files/", headers=sent, data=data)
    assert response.status == 201, await response.text()
    return path_of(response.headers["Location"]).rsplit("/", 1)[1]


async def _list(client: Any, auth: dict[str, str], query: str = "") -> dict[str, Any]:
    response = await client.get(f"/media{query}", headers=auth)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = await response.json()
    return body


async def test_pages_newest_first_until_the_last(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client()
    alice, bob = await login(client), await login(client)
    ids = [await _upload(client, alice, b"x" * (i + 1), f"clip-{i}.mp4") for i in range(5)]
    await _upload(client, bob, b"bob's")
    await _upload(client, alice, b"ab", **{"Upload-Length": "9"})  # unfinished: not listed
    await _upload(client, alice, b"abc", **{"Upload-Concat": "partial"})  # a partial is no media

    seen: list[dict[str, Any]] = []
    query, pages = "?limit=2", 0
    while True:
        page = await _list(client, alice, query)
        pages += 1
        assert len(page["items"]) <= 2
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        query = f"?limit=2&cursor={page['next_cursor']}"
    assert pages == 3
    assert [item["id"] for item in seen] == ids[::-1]
    newest = seen[0]
    assert newest["name"] == "clip-4.mp4" and newest["filetype"] == "video/mp4" and newest["size"] == 5
    assert newest["state"] == "queued" and newest["progress"] == 0.0
    assert set(newest) == {"id", "name", "filetype", "size", "state", "progress", "created_at", "updated_at"}
    assert seen[0]["created_at"] >= seen[-1]["created_at"]
    everything = await _list(client, alice)  # the default limit takes all five
    assert [item["id"] for item in everything["items"]] == ids[::-1] and everything["next_cursor"] is None


async def test_each_item_shows_its_processing_state(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client()
    alice = await login(client)
    processing, ready, stored = [await _upload(client, alice, b"v" * n) for n in (1, 2, 3)]
    records = client.app[MEDIA].inner  # type: ignore[attr-defined]
    await records.put(MediaRecord(upload_id=processing, state=MediaState.PROCESSING, progress=42.04))
    await records.put(MediaRecord(upload_id=ready, state=MediaState.READY, progress=100))
    await records.put(MediaRecord(upload_id=stored, state=MediaState.STORED, reason="not a media file"))
    items = {item["id"]: item for item in (await _list(client, alice))["items"]}
    assert (items[processing]["state"], items[processing]["progress"]) == ("processing", 42.0)
    assert (items[ready]["state"], items[ready]["progress"]) == ("ready", 100.0)
    assert items[stored]["state"] == "stored"


async def test_deleted_uploads_leave_the_list(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client()
    alice = await login(client)
    keep, drop = await _upload(client, alice, b"keep"), await _upload(client, alice, b"drop")
    deleted = await client.delete(f"/files/{drop}", headers={**TUS, **alice})
    assert deleted.status == 204
    assert [item["id"] for item in (await _list(client, alice))["items"]] == [keep]


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=-1",
        "?limit=101",
        "?limit=99999999999999999999999",
        "?limit=1e3",
        "?limit=ten",
        "?limit=",
        "?limit=%20%205",
        "?limit=%D9%A3",  # an Arabic-Indic three: a digit to str.isdigit, not to this API
        "?limit=2&limit=3",
        "?cursor=!!!",
        "?cursor=" + "A" * 600,
        "?cursor=%FF%FE",
        "?cursor=bm8tc3VjaC11cGxvYWQ",  # base64url of "no-such-upload": not a catalogue position
        "?cursor=_w",  # base64 of a byte that is not UTF-8
        "?cursor=a&cursor=b",
    ],
)
async def test_bad_limits_and_cursors_are_400(make_auth_client: MakeAuthClient, query: str) -> None:
    client = await make_auth_client()
    alice = await login(client)
    await _upload(client, alice, b"x")
    response = await client.get(f"/media{query}", headers=alice)
    assert response.status == 400, (query, await response.text())
    assert (await response.text()).startswith("ERR_BAD_REQUEST: ")
    assert (await client.get("/media", headers=alice)).status == 200


async def test_a_truncated_cursor_is_400(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client()
    alice = await login(client)
    for n in range(3):
        await _upload(client, alice, b"x" * (n + 1))
    cursor = (await _list(client, alice, "?limit=1"))["next_cursor"]
    assert cursor
    response = await client.get(f"/media?limit=1&cursor={cursor[:-2]}", headers=alice)
    assert response.status == 400
    assert len((await _list(client, alice, f"?limit=1&cursor={cursor}"))["items"]) == 1


async def test_another_users_cursor_shows_nothing_of_theirs(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client()
    alice, bob = await login(client), await login(client)
    for n in range(3):
        await _upload(client, alice, b"x" * (n + 1))
    bobs = await _upload(client, bob, b"bob's file")
    cursor = (await _list(client, alice, "?limit=1"))["next_cursor"]
    response = await client.get(f"/media?cursor={cursor}", headers=bob)
    if response.status == 200:  # a catalogue may read the cursor as a position: still only Bob's items
        assert {item["id"] for item in (await response.json())["items"]} <= {bobs}
    else:
        assert response.status == 400


async def test_an_open_server_lists_the_uploads_made_without_an_owner(make_client: Any) -> None:
    client = await make_client()  # TUSD_AUTH=none
    upload_id = await _upload(client, {}, b"anonymous")
    body = await _list(client, {})
    assert [item["id"] for item in body["items"]] == [upload_id]
