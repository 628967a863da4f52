"""A draft upload has an owner like a tus upload: another caller's HEAD, PATCH and DELETE find
nothing (404, existence not leaked), through the draft and through tus alike. A stand-in for
the auth middleware names the caller (``X-Test-User``), as in tests/direct."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.draft.client import DraftClient
from tusd_py.app import create_app
from tusd_py.auth.ports import CALLER, Caller
from tusd_py.settings import Settings


@web.middleware
async def named_caller(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    if user := request.headers.get("X-Test-User"):
        request[CALLER] = Caller(user)
    return await handler(request)


async def test_another_owner_finds_nothing(aiohttp_server: Any, tmp_path: Path) -> None:
    app = create_app(Settings.from_flat(data_dir=str(tmp_path / "data"), store="file"), background=False)
    app.middlewares.append(named_caller)
    server = await aiohttp_server(app)
    client = DraftClient(server.port, 8)
    alice, bob = {"X-Test-User": "alice"}, {"X-Test-User": "bob"}

    created = await client.create(b"01234", complete=False, headers=alice)
    assert created.status == 201
    path = client.path_of(created.headers["Location"])

    assert (await client.send("HEAD", path, bob)).status == 404
    assert (await client.append(path, 5, b"56789", complete=True, headers=bob)).status == 404
    assert (await client.send("DELETE", path, bob)).status == 404
    assert (await client.send("HEAD", path, {"Tus-Resumable": "1.0.0", **bob})).status == 404

    head = await client.send("HEAD", path, alice)
    assert head.status == 204 and head.headers["Upload-Offset"] == "5"  # bob changed nothing
    done = await client.append(path, 5, b"56789", complete=True, headers=alice)
    assert done.status == 201 and done.headers["Upload-Complete"] == "?1"
