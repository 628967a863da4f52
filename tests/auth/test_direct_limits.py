"""Uploads created through the direct-upload signing API (``POST /s3/multipart``, ``GET
/s3/params``) count toward the per-user uploads-created limit together with tus creations; the
other calls of the API (signing a part, listing, aborting) are requests, not creations."""

from __future__ import annotations

import os

import pytest

from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE

from .conftest import MakeAuthClient, login, register

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
async def direct_client(
    make_auth_client: MakeAuthClient,
    monkeypatch: pytest.MonkeyPatch,
    moto_endpoint: str,
    s3_bucket: str,
    redis_url: str,
) -> MakeAuthClient:
    monkeypatch.setenv("TUSD_MASTER_KEY", os.urandom(32).hex())  # shared storage: no key is made

    async def make(**overrides: object) -> object:
        return await make_auth_client(
            store="s3",
            s3_bucket=s3_bucket,
            s3_endpoint_url=moto_endpoint,
            s3_path_style=True,
            s3_min_part_size=MOTO_MIN_PART_SIZE,
            direct_uploads=True,
            redis_url=redis_url,
            jwt_secret=os.urandom(32).hex(),
            **overrides,
        )

    return make  # type: ignore[return-value]


async def test_direct_creations_count_with_tus_creations(direct_client: MakeAuthClient) -> None:
    client = await direct_client(rate_uploads_user="3/hour")
    await register(client)
    auth = {"Authorization": f"Bearer {await login(client)}"}
    created = await client.post(
        "/s3/multipart", json={"filename": "a.mp4", "type": "video/mp4", "size": 10}, headers=auth
    )
    assert created.status == 200, await created.text()
    upload = await created.json()
    single = await client.get(
        "/s3/params", params={"filename": "b.mp4", "type": "video/mp4", "size": "5"}, headers=auth
    )
    assert single.status == 200, await single.text()
    tus = await client.post("/files/", headers={**TUS, "Upload-Length": "1", **auth})
    assert tus.status == 201  # the third creation of the hour, by another route
    for refused in (
        await client.post("/s3/multipart", json={"filename": "c.mp4", "size": 10}, headers=auth),
        await client.get("/s3/params", params={"filename": "d.mp4", "size": "5"}, headers=auth),
        await client.post("/files/", headers={**TUS, "Upload-Length": "1", **auth}),
    ):
        assert refused.status == 429, await refused.text()
        assert 3000 < int(refused.headers["Retry-After"]) <= 3600
        assert (await refused.text()).startswith("ERR_TOO_MANY_REQUESTS: too many uploads created")
    # The upload already created goes on: signing and listing its parts create nothing.
    key = {"key": upload["key"]}
    signed = await client.get(f"/s3/multipart/{upload['uploadId']}/1", params=key, headers=auth)
    assert signed.status == 200 and (await signed.json())["url"].startswith("http")
    listed = await client.get(f"/s3/multipart/{upload['uploadId']}", params=key, headers=auth)
    assert listed.status == 200 and await listed.json() == []
    assert (await client.delete(f"/s3/multipart/{upload['uploadId']}", params=key, headers=auth)).status == 200


async def test_each_user_has_a_count_of_their_own(direct_client: MakeAuthClient) -> None:
    client = await direct_client(rate_uploads_user="1/hour")
    await register(client)
    await register(client, email="bob@example.com")
    ann = {"Authorization": f"Bearer {await login(client)}"}
    bob = {"Authorization": f"Bearer {await login(client, email='bob@example.com')}"}
    body = {"filename": "a.mp4", "size": 10}
    assert (await client.post("/s3/multipart", json=body, headers=ann)).status == 200
    assert (await client.post("/s3/multipart", json=body, headers=ann)).status == 429
    assert (await client.post("/s3/multipart", json=body, headers=bob)).status == 200
