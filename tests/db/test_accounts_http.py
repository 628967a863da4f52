"""The accounts of the embedded default through /auth, on the real SQL repositories (SqlUsers,
SqlSessions in app.sqlite3): register, login, refresh rotation and reuse, the session list, and
a restart that keeps the user and the session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tusd_py.app import create_app
from tusd_py.auth.routes import COOKIE
from tusd_py.settings import Settings

ACCOUNT = {"email": "ann@example.com", "password": "correct horse battery staple"}
SCRIPT = {"X-Requested-With": "fetch"}  # the CSRF guard of the cookie endpoints, for a non-browser client


async def _client(aiohttp_client: Any, data: Path) -> Any:
    settings = Settings.from_flat(data_dir=str(data), store="file", auth="local", cookie_secure=False)
    # no cookie jar: each request carries exactly the refresh cookie the test names
    return await aiohttp_client(create_app(settings, background=False), cookie_jar=aiohttp.DummyCookieJar())


async def _refresh(client: Any, cookie: str) -> Any:
    return await client.post("/auth/refresh", headers={**SCRIPT, "Cookie": f"{COOKIE}={cookie}"})


async def test_accounts_and_sessions_live_in_the_database_across_a_restart(aiohttp_client: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await _client(aiohttp_client, data)
    created = await first.post("/auth/register", json=ACCOUNT)
    assert created.status == 201, await created.text()
    user_id = (await created.json())["id"]
    assert (await first.post("/auth/register", json=ACCOUNT)).status == 409  # the unique email
    login = await first.post("/auth/login", json=ACCOUNT, headers={"User-Agent": "test-agent/1"})
    assert login.status == 200, await login.text()
    token, cookie = (await login.json())["access_token"], login.cookies[COOKIE].value
    me = await first.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and (await me.json())["id"] == user_id
    sessions = await first.get("/auth/sessions", headers={"Authorization": f"Bearer {token}"})
    assert sessions.status == 200, await sessions.text()
    [listed] = (await sessions.json())["sessions"]
    assert listed["user_agent"] == "test-agent/1" and listed["current"] is True
    await first.close()

    second = await _client(aiohttp_client, data)  # a restart: same data dir, same database
    rotated = await _refresh(second, cookie)
    assert rotated.status == 200, await rotated.text()  # the session outlived the process
    fresh_cookie = rotated.cookies[COOKIE].value
    assert fresh_cookie != cookie
    reused = await _refresh(second, cookie)  # the rotated-away token again: theft, the session ends
    assert reused.status == 401
    assert (await _refresh(second, fresh_cookie)).status == 401
    again = await second.post("/auth/login", json=ACCOUNT)
    assert again.status == 200  # the account outlived the process too
