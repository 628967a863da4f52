"""The /auth endpoints over HTTP: status codes, bodies, the refresh cookie, the token claims,
refresh rotation and reuse, logout, sessions, account deletion, disabled users, CSRF."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import jwt
from aiohttp import web

from tusd_py.auth.keys import ERASER, SESSIONS, TOKENS, USERS
from tusd_py.auth.routes import COOKIE

from .conftest import PASSWORD, SAME_SITE, Client, MakeAuthClient, bearer, login, register


def _cookie(response_headers: object) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for value in response_headers.getall("Set-Cookie", ()):  # type: ignore[attr-defined]
        jar.load(value)
    return jar


def set_refresh(client: Client, value: str) -> None:
    """The client's refresh cookie, and only it (a browser keeps one per name and path)."""
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: value})


async def test_register(auth_client: Client) -> None:
    body = await register(auth_client, email="  Ann@Example.COM ")
    assert body["email"] == "ann@example.com" and len(body["id"]) >= 16
    again = await auth_client.post("/auth/register", json={"email": "ann@example.com", "password": PASSWORD})
    assert again.status == 409
    assert await again.json() == {"error": "ERR_EMAIL_TAKEN", "message": "an account with this email exists already"}
    short = await auth_client.post("/auth/register", json={"email": "bob@example.com", "password": "123456789"})
    assert short.status == 422
    assert "too short: at least 10 characters" in (await short.json())["message"]
    for bad in (
        {"email": "not-an-email", "password": PASSWORD},
        {"email": 5, "password": PASSWORD},
        {"email": "x@y.z"},
    ):
        response = await auth_client.post("/auth/register", json=bad)
        assert response.status == 422, bad
        assert response.content_type == "application/json"


async def test_login_answers_a_token_and_sets_the_refresh_cookie(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(cookie_secure=True, access_token_ttl=600)
    user = await register(client)
    response = await client.post("/auth/login", json={"email": "ANN@example.com", "password": PASSWORD})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["id"] and claims["iss"] == "tusd-py" and claims["aud"] == "tusd-py"
    assert claims["exp"] - claims["iat"] == 600 and claims["sid"] and claims["jti"]
    raw = response.headers.getall("Set-Cookie")
    assert len(raw) == 1
    attributes = {part.strip().split("=")[0].lower() for part in raw[0].split(";")}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    cookie = _cookie(response.headers)[COOKIE]
    assert cookie["path"] == "/auth" and cookie["samesite"] == "Strict" and cookie["max-age"] == str(30 * 86400)
    refresh = jwt.decode(cookie.value, options={"verify_signature": False})
    assert refresh["typ"] == "refresh" and refresh["sid"] == claims["sid"] and refresh["sub"] == user["id"]


async def test_the_cookie_drops_secure_when_told(auth_client: Client) -> None:
    await register(auth_client)
    response = await auth_client.post("/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
    assert "secure" not in response.headers["Set-Cookie"].lower()


async def test_wrong_email_or_password_is_one_401(auth_client: Client) -> None:
    await register(auth_client)
    wrong_password = await auth_client.post("/auth/login", json={"email": "ann@example.com", "password": "x" * 12})
    no_user = await auth_client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert wrong_password.status == no_user.status == 401
    assert (
        await wrong_password.json()
        == await no_user.json()
        == {
            "error": "ERR_UNAUTHORIZED",
            "message": "wrong email or password",
        }
    )
    assert wrong_password.headers["WWW-Authenticate"].startswith("Bearer")


async def test_me_and_the_bearer_requirement(auth_client: Client) -> None:
    user = await register(auth_client)
    token = await login(auth_client)
    me = await auth_client.get("/auth/me", headers=bearer(token))
    assert me.status == 200
    body = await me.json()
    assert (body["id"], body["email"]) == (user["id"], "ann@example.com") and body["created_at"] > 0
    anonymous = await auth_client.get("/auth/me")
    assert anonymous.status == 401 and anonymous.headers["WWW-Authenticate"] == 'Bearer realm="tusd-py"'
    forged = await auth_client.get("/auth/me", headers=bearer(token[:-3] + "abc"))
    assert forged.status == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


async def test_refresh_rotates_and_a_reused_token_revokes_the_session(auth_client: Client) -> None:
    await register(auth_client)
    first_access = await login(auth_client)
    old_cookie = auth_client.session.cookie_jar.filter_cookies(auth_client.make_url("/auth/refresh"))[COOKIE].value
    refreshed = await auth_client.post("/auth/refresh", headers=SAME_SITE)
    assert refreshed.status == 200
    body = await refreshed.json()
    new_cookie = _cookie(refreshed.headers)[COOKIE].value
    assert new_cookie != old_cookie and body["access_token"] != first_access
    old, new = (jwt.decode(c, options={"verify_signature": False}) for c in (old_cookie, new_cookie))
    assert old["sid"] == new["sid"] and old["jti"] != new["jti"]
    assert (await auth_client.get("/auth/me", headers=bearer(body["access_token"]))).status == 200
    # the old refresh token again: a copy is in other hands; the whole session ends
    set_refresh(auth_client, old_cookie)
    reused = await auth_client.post("/auth/refresh", headers=SAME_SITE)
    assert reused.status == 401 and "used already" in (await reused.json())["message"]
    assert (await auth_client.get("/auth/me", headers=bearer(body["access_token"]))).status == 401
    set_refresh(auth_client, new_cookie)  # the thief's copy is dead too
    assert (await auth_client.post("/auth/refresh", headers=SAME_SITE)).status == 401


async def test_refresh_without_or_with_a_bad_cookie(auth_client: Client) -> None:
    assert (await auth_client.post("/auth/refresh", headers=SAME_SITE)).status == 401
    set_refresh(auth_client, "a.b.c")
    assert (await auth_client.post("/auth/refresh", headers=SAME_SITE)).status == 401


async def test_logout_ends_this_session_only(auth_client: Client) -> None:
    await register(auth_client)
    other = await login(auth_client)  # another device
    token = await login(auth_client)
    response = await auth_client.post("/auth/logout", headers=SAME_SITE)
    assert response.status == 204
    assert _cookie(response.headers)[COOKIE]["max-age"] == "0"  # the cookie is cleared
    assert (await auth_client.get("/auth/me", headers=bearer(token))).status == 401  # at once
    assert (await auth_client.get("/auth/me", headers=bearer(other))).status == 200


async def test_logout_all(auth_client: Client) -> None:
    await register(auth_client)
    other = await login(auth_client)
    token = await login(auth_client)
    assert (await auth_client.post("/auth/logout-all", headers=SAME_SITE)).status == 204
    for access in (token, other):
        assert (await auth_client.get("/auth/me", headers=bearer(access))).status == 401
    assert (await auth_client.post("/auth/logout-all", headers=SAME_SITE)).status == 401  # nothing left


async def test_sessions_list_and_delete(auth_client: Client) -> None:
    await register(auth_client)
    await register(auth_client, email="bob@example.com")
    bob = await login(auth_client, email="bob@example.com")
    first = await auth_client.post(
        "/auth/login", json={"email": "ann@example.com", "password": PASSWORD}, headers={"User-Agent": "phone/1"}
    )
    phone = (await first.json())["access_token"]
    token = await login(auth_client)
    listed = await auth_client.get("/auth/sessions", headers=bearer(token))
    sessions = (await listed.json())["sessions"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions] == [False, True] and sessions[0]["user_agent"] == "phone/1"
    assert all(s["created_at"] <= s["last_used"] for s in sessions)
    phone_sid = sessions[0]["id"]
    assert (await auth_client.delete(f"/auth/sessions/{phone_sid}", headers=bearer(bob))).status == 404  # not bob's
    assert (await auth_client.delete(f"/auth/sessions/{phone_sid}", headers=bearer(token))).status == 204
    assert (await auth_client.get("/auth/me", headers=bearer(phone))).status == 401
    assert (await auth_client.delete(f"/auth/sessions/{phone_sid}", headers=bearer(token))).status == 404


async def test_expired_access_and_refresh_tokens(auth_client: Client) -> None:
    user = await register(auth_client)
    await login(auth_client)
    app = auth_client.app
    assert app is not None
    sid = (await app[SESSIONS].list(user["id"]))[0].id
    tokens = app[TOKENS]
    expired = tokens.access(user["id"], sid, time.time() - tokens.access_ttl - 1)
    response = await auth_client.get("/auth/me", headers=bearer(expired))
    assert response.status == 401 and "expired" in (await response.json())["message"]
    session = await app[SESSIONS].get(sid)
    assert session is not None
    stale = tokens.refresh(user["id"], sid, session.jti, time.time() - tokens.refresh_ttl - 1)
    set_refresh(auth_client, stale)
    assert (await auth_client.post("/auth/refresh", headers=SAME_SITE)).status == 401


async def test_disabled_users_cannot_log_in_or_refresh(auth_client: Client) -> None:
    user = await register(auth_client)
    await login(auth_client)
    app = auth_client.app
    assert app is not None
    await app[USERS].set_disabled(user["id"], True)
    assert (await auth_client.post("/auth/refresh", headers=SAME_SITE)).status == 401
    response = await auth_client.post("/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
    assert response.status == 401 and (await response.json())["message"] == "this account is disabled"
    await app[USERS].set_disabled(user["id"], False)
    await login(auth_client)


async def test_cookie_endpoints_refuse_other_sites(auth_client: Client) -> None:
    await register(auth_client)
    await login(auth_client)
    for path in ("/auth/refresh", "/auth/logout", "/auth/logout-all"):
        bare = await auth_client.post(path)  # no Origin, no X-Requested-With: a form could send this
        assert bare.status == 403 and (await bare.json())["error"] == "ERR_CROSS_SITE_REQUEST"
        evil = await auth_client.post(path, headers={"Origin": "https://evil.example"})
        assert evil.status == 403, path
    own = f"http://{auth_client.host}:{auth_client.port}"
    assert (await auth_client.post("/auth/refresh", headers={"Origin": own})).status == 200


async def test_a_listed_origin_may_use_the_cookie(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(cors_allow_origins="https://app.example")
    await register(client)
    await login(client)
    assert (await client.post("/auth/refresh", headers={"Origin": "https://app.example"})).status == 200
    assert (await client.post("/auth/refresh", headers={"Origin": "https://other.example"})).status == 403


async def test_delete_account_needs_the_password_and_erases(make_auth_client: MakeAuthClient) -> None:
    erased: list[str] = []

    async def erase(owner: str) -> None:
        erased.append(owner)

    def prepare(app: web.Application) -> None:
        app[ERASER] = erase

    auth_client = await make_auth_client(prepare)
    user = await register(auth_client)
    token = await login(auth_client)
    app = auth_client.app
    assert app is not None
    wrong = await auth_client.delete("/auth/me", json={"password": "not the password"}, headers=bearer(token))
    assert wrong.status == 401 and erased == []
    response = await auth_client.delete("/auth/me", json={"password": PASSWORD}, headers=bearer(token))
    assert response.status == 204 and erased == [user["id"]]
    assert await app[USERS].by_id(user["id"]) is None
    assert (await auth_client.get("/auth/me", headers=bearer(token))).status == 401
    assert (
        await auth_client.post("/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
    ).status == 401
