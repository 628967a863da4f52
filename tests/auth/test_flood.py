"""A login flood cannot starve uploads: password hashes run in their own few threads, so an
upload's PATCH completes while a queue of logins is still being hashed."""

from __future__ import annotations

import asyncio

from .conftest import PASSWORD, MakeAuthClient, bearer, login, register


async def test_an_upload_completes_during_a_login_flood(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(password_hash_concurrency=1, rate_login_email="1000/minute")
    await register(client)
    token = await login(client)
    events: list[str] = []

    async def one_login(i: int) -> None:
        response = await client.post("/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
        assert response.status == 200
        events.append(f"login-{i}")

    async def upload() -> None:
        await asyncio.sleep(0.05)  # the flood is queued first
        headers = {"Tus-Resumable": "1.0.0", **bearer(token)}
        created = await client.post("/files/", headers={**headers, "Upload-Length": str(256 * 1024)})
        assert created.status == 201
        path = "/files/" + created.headers["Location"].rsplit("/", 1)[1]
        patched = await client.patch(
            path,
            data=b"x" * (256 * 1024),
            headers={**headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert patched.status == 204
        events.append("upload")

    await asyncio.gather(*(one_login(i) for i in range(12)), upload())
    # twelve hashes one at a time take twelve hash-times; the upload needs none of them
    assert "upload" in events[:6], events
