"""A draft upload has an owner like a tus upload, with accounts on (TUSD_AUTH=local, real
/auth/register and /auth/login): no token is 401 before any upload exists (no 104); another
user's HEAD, PATCH and DELETE find nothing (404, existence not leaked), through the draft and
through tus alike; the owner finishes the upload."""

from __future__ import annotations

from typing import Any

from tests.draft.client import DraftClient
from tests.ownership.accounts import AUTH_SETTINGS, cheap_passwords, login, user_of
from tusd_py.app import create_app
from tusd_py.keys import SERVICE


async def test_draft_uploads_belong_to_their_user(aiohttp_client: Any, make_settings: Any) -> None:
    app = cheap_passwords(create_app(make_settings(**AUTH_SETTINGS), background=False))
    http = await aiohttp_client(app)
    alice, bob = await login(http), await login(http)
    client = DraftClient(http.server.port, 8)

    anonymous = await client.create(b"01234", complete=False)
    assert anonymous.status == 401 and anonymous.interim == []
    assert "Bearer" in anonymous.headers["WWW-Authenticate"]

    created = await client.create(b"01234", complete=False, headers=alice)
    assert created.status == 201 and created.interim[0].status == 104
    path = client.path_of(created.headers["Location"])
    info = await app[SERVICE].info(path.rsplit("/", 1)[1])
    assert info.owner == user_of(alice)  # from the token, not from anything the client sent

    assert (await client.send("HEAD", path, bob)).status == 404
    assert (await client.append(path, 5, b"56789", complete=True, headers=bob)).status == 404
    assert (await client.send("DELETE", path, bob)).status == 404
    assert (await client.send("HEAD", path, {"Tus-Resumable": "1.0.0", **bob})).status == 404
    assert (await client.send("HEAD", path, {})).status == 401

    head = await client.send("HEAD", path, alice)
    assert head.status == 204 and head.headers["Upload-Offset"] == "5"  # bob changed nothing
    done = await client.append(path, 5, b"56789", complete=True, headers=alice)
    assert done.status == 201 and done.headers["Upload-Complete"] == "?1"
