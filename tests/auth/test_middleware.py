"""The auth middleware on every route: who needs a token, what a bad one gets, the public
exceptions, the EventSource query token, the per-user rate limits, and TUSD_AUTH=none."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from tusd_py.app import create_app
from tusd_py.auth.keys import TOKENS
from tusd_py.auth.tokens import Tokens
from tusd_py.settings import Settings

from .conftest import PASSWORD, Client, MakeAuthClient, bearer, login, register

TUS = {"Tus-Resumable": "1.0.0"}


async def test_tus_needs_a_token_and_works_with_one(auth_client: Client) -> None:
    refused = await auth_client.post("/files/", headers={**TUS, "Upload-Length": "5"})
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="tusd-py"'
    assert (await refused.text()).startswith("ERR_UNAUTHORIZED: ")  # tus endpoints keep tusd's text errors
    assert refused.headers["Tus-Resumable"] == "1.0.0"  # the tus middleware decorated the 401
    await register(auth_client)
    token = await login(auth_client)
    created = await auth_client.post("/files/", headers={**TUS, "Upload-Length": "5", **bearer(token)})
    assert created.status == 201
    location = "/files/" + created.headers["Location"].rsplit("/", 1)[1]
    patched = await auth_client.patch(
        location,
        data=b"hello",
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", **bearer(token)},
    )
    assert patched.status == 204 and patched.headers["Upload-Offset"] == "5"
    assert (await auth_client.head(location, headers={**TUS, **bearer(token)})).status == 200
    for method in ("HEAD", "PATCH", "DELETE", "GET"):
        response = await auth_client.request(method, location, headers=TUS)
        assert response.status == 401, method
    assert (await auth_client.get("/media/abc")).status == 401


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Bearer ",
        "Bearer a.b",
        "Bearer a.b.c",
        "Basic dXNlcjpwYXNz",
        "bearer " + "x" * 6000,
        "Bearer a.b.c d",
        "Bearer \u00e9t\u00e9.a.b",
        "Token abc",
    ],
    ids=["bare", "empty", "two-parts", "not-signed", "basic", "6k", "two-tokens", "non-ascii", "other-scheme"],
)
async def test_malformed_authorization_is_401(auth_client: Client, value: str) -> None:
    response = await auth_client.get("/auth/me", headers={"Authorization": value})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="tusd-py"')
    assert (await response.json())["error"] == "ERR_UNAUTHORIZED"


async def test_public_routes_need_no_token(auth_client: Client) -> None:
    assert (await auth_client.get("/healthz")).status == 200
    assert (await auth_client.get("/readyz")).status in (200, 503)
    assert (await auth_client.get("/metrics")).status == 200
    assert (await auth_client.options("/files/")).status == 204  # tus capabilities
    preflight = await auth_client.options(
        "/auth/me", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status == 204
    assert (await auth_client.get("/")).status == 200  # the web app's page
    # signed delivery URLs: refused for their signature, never for a missing token
    for path in ("/media/abc/hls/master.m3u8", "/media/abc/key", "/media/abc/files/poster.jpg"):
        response = await auth_client.get(path)
        assert response.status != 401 and response.status in (403, 404), path


async def test_events_take_the_token_in_the_query(auth_client: Client) -> None:
    await register(auth_client)
    token = await login(auth_client)
    assert (await auth_client.get("/media/abc/events")).status == 401
    assert (await auth_client.get("/media/abc/events?access_token=a.b.c")).status == 401
    assert (await auth_client.get(f"/media/abc/events?access_token={token}")).status == 404  # past auth: no such id
    assert (await auth_client.get(f"/media/abc?access_token={token}")).status == 401  # only the event stream


async def test_a_token_of_another_secret_or_session_is_refused(auth_client: Client) -> None:
    user = await register(auth_client)
    app = auth_client.app
    assert app is not None
    tokens = app[TOKENS]
    unknown_session = tokens.access(user["id"], "no-such-session", time.time())
    assert (await auth_client.get("/auth/me", headers=bearer(unknown_session))).status == 401
    other = Tokens(b"o" * 32, issuer="tusd-py", audience="tusd-py", access_ttl=900, refresh_ttl=3600)
    assert (await auth_client.get("/auth/me", headers=bearer(other.access(user["id"], "s", time.time())))).status == 401


async def test_requests_per_user_are_limited(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(rate_api_user="3/minute")
    await register(client)
    token = await login(client)
    for _ in range(3):
        assert (await client.get("/auth/me", headers=bearer(token))).status == 200
    refused = await client.get("/auth/me", headers=bearer(token))
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert (await refused.json())["error"] == "ERR_TOO_MANY_REQUESTS"
    assert (await client.get("/healthz")).status == 200  # public routes are not counted


async def test_uploads_created_per_user_are_limited(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(rate_uploads_user="2/hour")
    await register(client)
    token = await login(client)
    headers = {**TUS, "Upload-Length": "1", **bearer(token)}
    assert (await client.post("/files/", headers=headers)).status == 201
    assert (await client.post("/files/", headers=headers)).status == 201
    refused = await client.post("/files/", headers=headers)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 3000


async def test_logins_and_registrations_are_limited(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(rate_login_email="2/minute", rate_register_address="2/hour")
    await register(client)
    await register(client, email="bob@example.com")
    third = await client.post("/auth/register", json={"email": "cy@example.com", "password": PASSWORD})
    assert third.status == 429 and "Retry-After" in third.headers
    wrong = {"email": "ann@example.com", "password": "wrong password!"}
    assert (await client.post("/auth/login", json=wrong)).status == 401
    assert (await client.post("/auth/login", json=wrong)).status == 401
    refused = await client.post("/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
    assert refused.status == 429  # even with the right password: the email's attempts are spent
    assert (await client.post("/auth/login", json={"email": "bob@example.com", "password": PASSWORD})).status == 200


async def test_auth_none_is_open_and_says_so(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> None:
    with capture_logs() as logs:
        app = create_app(make_settings(auth="none", store="memory"), background=False)
    assert any(e["event"] == "auth_disabled" and e["log_level"] == "warning" for e in logs)
    client = await aiohttp_client(app)
    assert (await client.post("/files/", headers={**TUS, "Upload-Length": "1"})).status == 201
    assert (await client.post("/auth/login", json={"email": "a@b.cd", "password": PASSWORD})).status == 404
