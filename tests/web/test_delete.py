"""DELETE: termination (tus-spec T2, T3)."""

from __future__ import annotations

from typing import Any

from .helpers import OCTET, TusCase, create, patch, upload_ids


async def test_delete_then_every_request_is_410(client: Any) -> None:
    path = await create(client, 10)
    assert (await patch(client, path, 0, b"01234")).status == 204
    await TusCase("DELETE", path, status=204).run(client)
    assert await upload_ids(client) == []
    await TusCase("HEAD", path, status=410, absent_headers=["Upload-Offset"]).run(client)
    await TusCase("PATCH", path, headers={"Content-Type": OCTET, "Upload-Offset": "5"}, body=b"56789", status=410).run(
        client
    )
    await TusCase("DELETE", path, status=410).run(client)
    await TusCase("GET", path, status=410).run(client)


async def test_delete_a_finished_upload(client: Any) -> None:
    path = await create(client, 5)
    assert (await patch(client, path, 0, b"hello")).status == 204
    await TusCase("DELETE", path, status=204).run(client)
    await TusCase("HEAD", path, status=410).run(client)


async def test_delete_an_unknown_upload_is_404(client: Any) -> None:
    await TusCase("DELETE", "/files/nope", status=404).run(client)


async def test_delete_leaves_other_uploads_alone(client: Any) -> None:
    keep, drop = await create(client, 3), await create(client, 3)
    await TusCase("DELETE", drop, status=204).run(client)
    await TusCase("HEAD", keep, status=200, expect_headers={"Upload-Offset": "0"}).run(client)
