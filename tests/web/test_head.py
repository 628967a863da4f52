"""HEAD: where is my upload? (tus-spec C9-C15, T3, E4)."""

from __future__ import annotations

import time
from typing import Any

from tusd_py.app import SWEEPER

from .helpers import TusCase, b64, create, patch


async def test_head_of_a_new_upload(client: Any) -> None:
    path = await create(client, 100)
    result = await TusCase(
        "HEAD",
        path,
        status=200,
        expect_headers={"Upload-Offset": "0", "Upload-Length": "100", "Cache-Control": "no-store"},
        absent_headers=["Upload-Defer-Length", "Upload-Metadata", "Upload-Concat"],
    ).run(client)
    assert result.body == b""


async def test_head_follows_the_offset_to_completion(client: Any) -> None:
    path = await create(client, 10)
    assert (await patch(client, path, 0, b"01234")).status == 204
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Offset": "5", "Cache-Control": "no-store"}).run(
        client
    )
    assert (await patch(client, path, 5, b"56789")).status == 204
    await TusCase(
        "HEAD",
        path,
        status=200,
        expect_headers={"Upload-Offset": "10", "Upload-Length": "10", "Cache-Control": "no-store"},
    ).run(client)


async def test_head_of_a_deferred_upload(client: Any) -> None:
    path = await create(client, None)
    await TusCase(
        "HEAD",
        path,
        status=200,
        expect_headers={"Upload-Defer-Length": "1", "Upload-Offset": "0"},
        absent_headers=["Upload-Length"],
    ).run(client)


async def test_head_echoes_metadata(client: Any) -> None:
    metadata = f"filename {b64('world.mp4')},is_confidential"
    path = await create(client, 1, headers={"Upload-Metadata": metadata})
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Metadata": metadata}).run(client)


async def test_head_of_an_unknown_upload_is_404_without_offset(client: Any) -> None:
    result = await TusCase(
        "HEAD", "/files/doesnotexist", status=404, absent_headers=["Upload-Offset", "Upload-Length"]
    ).run(client)
    assert result.body == b""


async def test_head_of_a_malformed_id_is_404(client: Any) -> None:
    await TusCase("HEAD", "/files/..%2Fetc", status=404, absent_headers=["Upload-Offset"]).run(client)


async def test_terminated_upload_is_410_then_404_once_the_tombstone_is_purged(client: Any) -> None:
    path = await create(client, 10)
    await TusCase("DELETE", path, status=204).run(client)
    await TusCase("HEAD", path, status=410, absent_headers=["Upload-Offset"]).run(client)
    report = await client.app[SWEEPER].run_once(now=time.time() + 30 * 86400)
    assert report.purged == 1
    await TusCase("HEAD", path, status=404, absent_headers=["Upload-Offset"]).run(client)
