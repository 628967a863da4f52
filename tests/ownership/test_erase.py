"""Erasing an account: every upload of the owner goes (410 to a client that comes back), its
processed outputs and its record's data key go, another user's uploads and media stay."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.contract import MediaRecord, MediaState
from pipeline.errors import StorageUnavailable
from tests.web.helpers import OCTET, TUS, path_of
from tusd_py.accounts import DELETED, ERASED, AccountEraser
from tusd_py.keys import SERVICE, SETTINGS, STORE
from tusd_py.playback.keys import MEDIA
from tusd_py.processing import build_assets
from tusd_py.protocol.errors import StorageUnavailable as ServerStorageUnavailable

from .accounts import login, s3_overrides, user_of
from .conftest import MakeAuthClient

KEY = {"kek_id": "k1", "wrapped": "AAAA"}


async def _upload(client: Any, auth: dict[str, str], data: bytes, length: int | None = None) -> str:
    sent = {**TUS, **auth, "Upload-Length": str(length or len(data)), "Content-Type": OCTET}
    response = await client.post("/files/", headers=sent, data=data)
    assert response.status == 201, await response.text()
    return path_of(response.headers["Location"]).rsplit("/", 1)[1]


def _eraser(client: Any) -> AccountEraser:
    app = client.app
    storage = app[SETTINGS].storage
    assets = build_assets(storage.store, app[STORE], bucket=storage.s3_bucket, data_dir=storage.data_dir)
    return AccountEraser(app[SERVICE], app[MEDIA].inner, lambda: assets)


async def _processed(client: Any, upload_id: str) -> None:
    """What processing leaves of an upload: outputs under media/<id>/<attempt>/ and a ready record."""
    eraser = _eraser(client)
    assets = eraser.assets()
    for name in ("hls/master.m3u8", "hls/240p/seg_00000.ts", "poster.jpg", "original.enc"):
        await assets.put_bytes(f"media/{upload_id}/a1/{name}", b"ciphertext")
    record = MediaRecord(
        upload_id=upload_id,
        state=MediaState.READY,
        progress=100,
        master_playlist="hls/master.m3u8",
        poster="poster.jpg",
        original="original.enc",
        data_key=KEY,
        output_prefix=f"media/{upload_id}/a1/",
    )
    await eraser.records.put(record)


@pytest.fixture(params=["file", "s3"])
async def client(request: Any, make_auth_client: MakeAuthClient) -> Any:
    if request.param == "file":
        return await make_auth_client()
    endpoint, bucket = request.getfixturevalue("moto_endpoint"), request.getfixturevalue("s3_bucket")
    return await make_auth_client(**s3_overrides(endpoint, bucket))


async def test_erasing_an_owner_removes_their_uploads_and_media_only(client: Any) -> None:
    alice, bob = await login(client), await login(client)
    ready, unfinished = await _upload(client, alice, b"video"), await _upload(client, alice, b"ha", 9)
    bobs = await _upload(client, bob, b"bob's")
    await _processed(client, ready)
    await _processed(client, bobs)
    eraser = _eraser(client)

    await eraser.erase(user_of(alice))

    for upload_id in (ready, unfinished):
        head = await client.head(f"/files/{upload_id}", headers={**TUS, **alice})
        assert head.status in (404, 410)
        assert await eraser.assets().list(f"media/{upload_id}/") == []
    record = await eraser.records.get(ready)
    assert record is not None
    assert (record.state, record.reason, record.data_key, record.output_prefix) == (MediaState.FAILED, ERASED, {}, "")
    assert await client.app[SERVICE].catalogue.ids(user_of(alice)) == []
    assert (await (await client.get("/media", headers=alice)).json())["items"] == []

    # Bob's upload, outputs and record are as they were
    head = await client.head(f"/files/{bobs}", headers={**TUS, **bob})
    assert (head.status, head.headers["Upload-Offset"]) == (200, "5")
    assert len(await eraser.assets().list(f"media/{bobs}/")) == 4
    kept = await eraser.records.get(bobs)
    assert kept is not None and kept.data_key == KEY and kept.state is MediaState.READY


class _Flaky:
    """An asset store whose first deletion fails as a storage outage does."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.failed = inner, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete_prefix(self, prefix: str) -> int:
        if not self.failed:
            self.failed = True
            raise StorageUnavailable("the bucket does not answer")
        removed: int = await self.inner.delete_prefix(prefix)
        return removed


async def test_an_erasure_cut_short_is_finished_by_the_next_run(client: Any) -> None:
    alice = await login(client)
    first, second = await _upload(client, alice, b"one"), await _upload(client, alice, b"two")
    await _processed(client, first)
    plain = _eraser(client)
    flaky = _Flaky(plain.assets())
    eraser = AccountEraser(plain.service, plain.records, lambda: flaky)
    owner = user_of(alice)
    with pytest.raises(ServerStorageUnavailable):  # 503 to DELETE /auth/me: the account stays
        await eraser.erase(owner)
    assert sorted(await client.app[SERVICE].catalogue.ids(owner)) == sorted([first, second])
    await eraser.erase(owner)
    await eraser.erase(owner)  # nothing left: a third run is harmless
    assert await plain.assets().list(f"media/{first}/") == []
    for upload_id in (first, second):
        assert (await client.head(f"/files/{upload_id}", headers={**TUS, **alice})).status in (404, 410)
    assert await client.app[SERVICE].catalogue.ids(owner) == []


# A DELETE in each protocol: tus, and the resumable-upload draft's cancellation in its oldest
# and newest interop versions (the same upload, whichever protocol deletes it).
DELETES = {
    "tus": TUS,
    "draft-3": {"Upload-Draft-Interop-Version": "3"},
    "draft-8": {"Upload-Draft-Interop-Version": "8"},
}


@pytest.mark.parametrize("protocol", sorted(DELETES))
async def test_a_delete_takes_the_processed_media_with_the_upload(client: Any, protocol: str) -> None:
    alice, bob = await login(client), await login(client)
    ready = await _upload(client, alice, b"video")
    await _processed(client, ready)
    eraser = _eraser(client)
    refused = await client.delete(f"/files/{ready}", headers={**DELETES[protocol], **bob})
    assert refused.status == 404
    assert len(await eraser.assets().list(f"media/{ready}/")) == 4  # Bob's DELETE touched nothing
    assert (await client.get(f"/media/{ready}", headers=alice)).status == 200

    deleted = await client.delete(f"/files/{ready}", headers={**DELETES[protocol], **alice})
    assert deleted.status == 204
    # the owner's status URL says gone (the tombstone's 410, then 404 after TUSD_TOMBSTONE_TTL);
    # to anyone else the id is as unknown as it was before
    assert (await client.get(f"/media/{ready}", headers=alice)).status == 410
    assert (await client.get(f"/media/{ready}", headers=bob)).status == 404
    assert (await client.delete(f"/files/{ready}", headers={**DELETES[protocol], **bob})).status == 404
    assert await eraser.assets().list(f"media/{ready}/") == []
    record = await eraser.records.get(ready)
    assert record is not None
    assert (record.state, record.reason, record.data_key) == (MediaState.FAILED, DELETED, {})
    assert (await client.head(f"/files/{ready}", headers={**TUS, **alice})).status == 410
    assert (await client.head(f"/files/{ready}", headers={**TUS, **bob})).status == 404


async def test_the_empty_owner_is_never_erased(client: Any) -> None:
    with pytest.raises(ValueError, match="refusing"):
        await _eraser(client).erase("")
