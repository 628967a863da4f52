"""Isolation: a second user walks every route of the first user's uploads and media and gets 404
each time, exactly as for an id that never existed; nobody gets 401; the owner is unaffected."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.helpers import OCTET, TUS, path_of

from .accounts import login, user_of
from .conftest import MakeAuthClient


async def _upload(client: Any, auth: dict[str, str], data: bytes, **headers: str) -> str:
    sent = {**TUS, **auth, "Upload-Length": str(len(data)), "Content-Type": OCTET, **headers}
    response = await client.post("/files/", headers=sent, data=data)
    assert response.status == 201, await response.text()
    return path_of(response.headers["Location"])


async def _walk(client: Any, auth: dict[str, str], done: str, open_: str, partial: str) -> list[tuple[str, int]]:
    """Every route that names an upload, as ``auth`` (headers); the status of each."""
    done_id = done.rsplit("/", 1)[1]
    patch = {**TUS, **auth, "Upload-Offset": "0", "Content-Type": OCTET}
    calls: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("HEAD", open_, {**TUS, **auth}, None),
        ("PATCH", open_, patch, b"xx"),
        ("GET", done, {**TUS, **auth}, None),
        ("GET", done, auth, None),  # a plain download, no Tus-Resumable
        ("DELETE", open_, {**TUS, **auth}, None),
        ("DELETE", done, {**TUS, **auth}, None),
        ("POST", open_, {**TUS, **auth, "X-HTTP-Method-Override": "DELETE"}, None),
        ("POST", "/files/", {**TUS, **auth, "Upload-Concat": f"final;{partial}"}, None),
        ("GET", f"/media/{done_id}", auth, None),
        ("GET", f"/media/{done_id}/events", auth, None),
    ]
    seen = []
    for method, path, headers, body in calls:
        async with client.request(method, path, headers=headers, data=body) as response:
            await response.read()
            seen.append((f"{method} {path} {sorted(headers)}", response.status))
    return seen


async def test_a_second_user_gets_404_on_every_route(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client()
    alice, bob = await login(client), await login(client)
    done = await _upload(client, alice, b"hello", **{"Upload-Metadata": "filename YS50eHQ="})
    open_ = await _upload(client, alice, b"he", **{"Upload-Length": "5"})
    partial = await _upload(client, alice, b"abc", **{"Upload-Concat": "partial"})

    as_bob = await _walk(client, bob, done, open_, partial)
    assert [status for _, status in as_bob] == [404] * len(as_bob), as_bob

    # what an id that never existed gets: the same answers, so Bob learns nothing
    ghost = "/files/" + "0" * 32
    as_unknown = await _walk(client, bob, ghost, ghost, ghost)
    assert [status for _, status in as_unknown] == [404] * len(as_unknown), as_unknown

    # EventSource sends no headers: the token may come as ?access_token=, and changes nothing
    token = bob["Authorization"].removeprefix("Bearer ")
    async with client.get(f"/media/{done.rsplit('/', 1)[1]}/events?access_token={token}") as events:
        assert events.status == 404

    listed = await client.get("/media", headers=bob)
    assert listed.status == 200
    assert (await listed.json())["items"] == []

    # Alice's uploads are untouched and hers
    head = await client.head(open_, headers={**TUS, **alice})
    assert (head.status, head.headers["Upload-Offset"]) == (200, "2")
    download = await client.get(done, headers={**TUS, **alice})
    assert (download.status, await download.read()) == (200, b"hello")
    status = await client.get(f"/media/{done.rsplit('/', 1)[1]}", headers=alice)
    assert status.status == 200
    assert (await status.json())["uploaded_by"] == user_of(alice)
    mine = await (await client.get("/media", headers=alice)).json()
    assert [item["id"] for item in mine["items"]] == [done.rsplit("/", 1)[1]]


async def test_no_user_gets_401_on_every_route(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client()
    alice = await login(client)
    done = await _upload(client, alice, b"hello")
    open_ = await _upload(client, alice, b"he", **{"Upload-Length": "5"})
    partial = await _upload(client, alice, b"abc", **{"Upload-Concat": "partial"})
    for auth in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic YTpi"}):
        walked = await _walk(client, auth, done, open_, partial)
        assert [status for _, status in walked] == [401] * len(walked), walked
        creation = await client.post("/files/", headers={**TUS, **auth, "Upload-Length": "1"})
        assert creation.status == 401
        assert creation.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get("/media", headers=auth)).status == 401


@pytest.mark.parametrize("uploaded_by", ["bWFsbG9yeQ==", ""])
async def test_uploaded_by_is_the_owner_never_the_metadata(make_auth_client: MakeAuthClient, uploaded_by: str) -> None:
    client = await make_auth_client()
    alice = await login(client)
    meta = f"uploadedBy {uploaded_by}".strip()
    done = await _upload(client, alice, b"hi", **{"Upload-Metadata": meta})
    body = await (await client.get(f"/media/{done.rsplit('/', 1)[1]}", headers=alice)).json()
    assert body["uploaded_by"] == user_of(alice)
