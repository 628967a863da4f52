"""Quotas over HTTP: 413 ERR_QUOTA_EXCEEDED with a clear message, before any byte is stored, on
creation, creation-with-upload, a declared deferred length, and before ``100 Continue``."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.web.helpers import OCTET, TUS, path_of, upload_ids

from .accounts import login
from .conftest import MakeAuthClient

QUOTA = {"quota_bytes": 100, "quota_uploads_in_flight": 3}


async def _post(client: Any, auth: dict[str, str], length: int | None, body: bytes | None = None) -> Any:
    headers = {**TUS, **auth}
    headers.update({"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"})
    if body is not None:
        headers["Content-Type"] = OCTET
    return await client.post("/files/", headers=headers, data=body)


async def test_creation_beyond_the_byte_quota_is_413_and_creates_nothing(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(**QUOTA)
    alice, bob = await login(client), await login(client)
    assert (await _post(client, alice, 60, b"x" * 60)).status == 201
    before = await upload_ids(client)
    refused = await _post(client, alice, 41)
    assert refused.status == 413
    text = await refused.text()
    assert text.startswith("ERR_QUOTA_EXCEEDED: storage quota exceeded: 41 bytes asked, 40 bytes left of 100 bytes")
    assert refused.headers["Tus-Resumable"] == "1.0.0"
    with_body = await _post(client, alice, 41, b"y" * 41)  # creation-with-upload: refused before the body
    assert with_body.status == 413
    assert "Location" not in with_body.headers
    assert sorted(await upload_ids(client)) == sorted(before)
    assert (await _post(client, alice, 40)).status == 201  # exactly what is left
    assert (await _post(client, bob, 100)).status == 201  # Bob's quota is his own


async def test_unfinished_uploads_beyond_the_limit_are_413(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(**QUOTA)
    alice = await login(client)
    paths = [path_of((await _post(client, alice, 5)).headers["Location"]) for _ in range(3)]
    refused = await _post(client, alice, 5)
    assert refused.status == 413 and "too many unfinished uploads: 3 of 3" in await refused.text()
    assert (await _post(client, alice, 0)).status == 201  # complete at once: never unfinished
    patched = await client.patch(
        paths[0], headers={**TUS, **alice, "Upload-Offset": "0", "Content-Type": OCTET}, data=b"12345"
    )
    assert patched.status == 204
    assert (await _post(client, alice, 5)).status == 201  # a finished upload made room


async def test_a_deferred_length_beyond_the_quota_is_413_and_stores_nothing(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(**QUOTA)
    alice = await login(client)
    path = path_of((await _post(client, alice, None)).headers["Location"])
    headers = {**TUS, **alice, "Upload-Offset": "0", "Content-Type": OCTET}
    refused = await client.patch(path, headers={**headers, "Upload-Length": "101"}, data=b"abc")
    assert refused.status == 413 and (await refused.text()).startswith("ERR_QUOTA_EXCEEDED: ")
    head = await client.head(path, headers={**TUS, **alice})
    assert (head.headers["Upload-Offset"], head.headers["Upload-Defer-Length"]) == ("0", "1")
    too_big = await client.patch(path, headers=headers, data=b"z" * 101)  # no length, a body past the quota
    assert too_big.status == 413
    assert (await client.head(path, headers={**TUS, **alice})).headers["Upload-Offset"] == "0"
    accepted = await client.patch(path, headers={**headers, "Upload-Length": "100"}, data=b"abc")
    assert (accepted.status, accepted.headers["Upload-Offset"]) == (204, "3")


async def test_deleting_an_upload_frees_its_bytes(make_auth_client: MakeAuthClient) -> None:
    client = await make_auth_client(**QUOTA)
    alice = await login(client)
    path = path_of((await _post(client, alice, 100)).headers["Location"])
    assert (await _post(client, alice, 1)).status == 413
    assert (await client.delete(path, headers={**TUS, **alice})).status == 204
    assert (await _post(client, alice, 100)).status == 201


@pytest.mark.parametrize("extra", ["", "Upload-Concat: partial\r\n"], ids=["upload", "partial"])
async def test_the_quota_is_refused_before_100_continue(make_auth_client: MakeAuthClient, extra: str) -> None:
    client = await make_auth_client(**QUOTA)
    alice = await login(client)
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        f"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: {alice['Authorization']}\r\n"
        f"Upload-Length: 500\r\n{extra}Content-Type: {OCTET}\r\nContent-Length: 500\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    status = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
    assert status is not None and status.group(1) == b"413", head  # never "100 Continue": no body was sent
    assert await upload_ids(client) == []
