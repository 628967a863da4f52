"""X-HTTP-Method-Override: PATCH, DELETE and HEAD sent as POST (tus-spec C8); only on a POST, only
those three (issue 11: a GET carrying the header never deletes an upload)."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import OCTET, TusCase, content_of, create, offset_of, upload_ids


async def test_post_overridden_to_patch(client: Any) -> None:
    path = await create(client, 5)
    await TusCase(
        "POST",
        path,
        headers={"X-HTTP-Method-Override": "PATCH", "Content-Type": OCTET, "Upload-Offset": "0"},
        body=b"hello",
        status=204,
        expect_headers={"Upload-Offset": "5"},
    ).run(client)
    assert await content_of(client, path) == b"hello"


async def test_override_to_patch_keeps_the_patch_rules(client: Any) -> None:
    path = await create(client, 5)
    await TusCase(
        "POST", path, headers={"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"}, body=b"hello", status=415
    ).run(client)
    await TusCase(
        "POST",
        path,
        headers={"X-HTTP-Method-Override": "PATCH", "Content-Type": OCTET, "Upload-Offset": "3"},
        body=b"hello",
        status=409,
        expect_headers={"Upload-Offset": "0"},
    ).run(client)
    assert await offset_of(client, path) == 0


async def test_post_overridden_to_delete(client: Any) -> None:
    path = await create(client, 5)
    await TusCase("POST", path, headers={"X-HTTP-Method-Override": "DELETE"}, status=204).run(client)
    await TusCase("HEAD", path, status=410).run(client)


async def test_post_overridden_to_head(client: Any) -> None:
    path = await create(client, 5)
    await TusCase(
        "POST",
        path,
        headers={"X-HTTP-Method-Override": "HEAD"},
        status=200,
        expect_headers={"Upload-Offset": "0", "Upload-Length": "5", "Cache-Control": "no-store"},
    ).run(client)


async def test_override_is_case_insensitive(client: Any) -> None:
    path = await create(client, 5)
    await TusCase("POST", path, headers={"X-HTTP-Method-Override": "delete"}, status=204).run(client)


@pytest.mark.parametrize(("method", "status"), [("GET", 200), ("HEAD", 200), ("PATCH", 204), ("OPTIONS", 204)])
async def test_the_header_is_ignored_on_any_other_method(client: Any, method: str, status: int) -> None:
    path = await create(client, 0)  # complete at once, so GET has something to serve
    headers = {"X-HTTP-Method-Override": "DELETE"}
    if method == "PATCH":
        headers.update({"Content-Type": OCTET, "Upload-Offset": "0"})
    await TusCase(method, path, headers=headers, body=b"" if method == "PATCH" else None, status=status).run(client)
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Offset": "0"}).run(client)


async def test_a_get_with_an_override_downloads_and_deletes_nothing(client: Any) -> None:
    path = await create(client, 5)
    await TusCase("PATCH", path, headers={"Content-Type": OCTET, "Upload-Offset": "0"}, body=b"hello", status=204).run(
        client
    )
    result = await TusCase("GET", path, headers={"X-HTTP-Method-Override": "DELETE"}, status=200).run(client)
    assert result.body == b"hello"
    assert await offset_of(client, path) == 5
    assert await content_of(client, path) == b"hello"


@pytest.mark.parametrize("value", ["GET", "OPTIONS", "POST", "PUT", "FOO", "delete, get"])
async def test_any_other_override_on_a_post_is_400(client: Any, value: str) -> None:
    path = await create(client, 5)
    result = await TusCase("POST", path, headers={"X-HTTP-Method-Override": value}, status=400).run(client)
    assert result.body.startswith(b"ERR_INVALID_METHOD_OVERRIDE: "), result.body
    assert await offset_of(client, path) == 0
    # the collection refuses it too, before anything is created
    await TusCase("POST", "/files/", headers={"X-HTTP-Method-Override": value, "Upload-Length": "1"}, status=400).run(
        client
    )
    assert await upload_ids(client) == [path.rsplit("/", 1)[1]]


async def test_a_refused_override_is_refused_before_100_continue(client: Any) -> None:
    path = await create(client, 5)
    result = await TusCase(
        "POST", path, headers={"X-HTTP-Method-Override": "GET", "Expect": "100-continue"}, body=b"x", status=400
    ).run(client)
    assert result.body.startswith(b"ERR_INVALID_METHOD_OVERRIDE: "), result.body
    assert await offset_of(client, path) == 0


async def test_an_empty_override_is_no_override(client: Any) -> None:
    await TusCase("POST", "/files/", headers={"X-HTTP-Method-Override": "", "Upload-Length": "1"}, status=201).run(
        client
    )
