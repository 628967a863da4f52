"""X-HTTP-Method-Override: PATCH, DELETE and HEAD sent as POST (tus-spec C8)."""

from __future__ import annotations

from typing import Any

from .helpers import OCTET, TusCase, content_of, create, offset_of


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


async def test_the_real_method_is_ignored(client: Any) -> None:
    path = await create(client, 5)
    await TusCase(
        "PATCH",
        path,
        headers={"X-HTTP-Method-Override": "DELETE", "Content-Type": OCTET, "Upload-Offset": "0"},
        body=b"",
        status=204,
    ).run(client)
    await TusCase("HEAD", path, status=410).run(client)


async def test_override_to_an_unknown_method_is_405(client: Any) -> None:
    path = await create(client, 5)
    await TusCase("POST", path, headers={"X-HTTP-Method-Override": "PUT"}, status=405).run(client)
    assert await offset_of(client, path) == 0
