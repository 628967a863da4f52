"""The disk reserve (TUSD_DISK_RESERVE): 507 before the disk is full, every landed byte kept.

A fake ``free_space`` stands for the disk: the room left above the reserve, minus what the
upload files hold, as statvfs would say after the writes.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from tusd_py.keys import SERVICE, STORE

from .helpers import OCTET, TusCase, content_of, create, offset_of, patch, path_of, upload_ids

RESERVE = 1_000_000
MiB = 1024 * 1024


class Disk:
    def __init__(self, root: Path, room: int) -> None:
        self.root, self.room = root, room

    def __call__(self, path: str) -> int:
        used = sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())
        return RESERVE + self.room - used


async def _client(make_client: Any, room: int, **settings: Any) -> tuple[Any, Disk]:
    client = await make_client(disk_reserve=RESERVE, **settings)
    store = client.app[STORE]
    disk = Disk(store.root, room)
    store.space.free_space = disk
    return client, disk


async def test_creation_inside_the_reserve_is_507_and_creates_nothing(make_client: Any) -> None:
    client, disk = await _client(make_client, room=-1)
    result = await TusCase("POST", "/files/", headers={"Upload-Length": "10"}, status=507).run(client)
    assert result.body.startswith(b"ERR_INSUFFICIENT_STORAGE:")
    assert await upload_ids(client) == []
    disk.room = 0  # exactly the reserve free: a new upload still fits (it writes no byte yet)
    await TusCase("POST", "/files/", headers={"Upload-Length": "10"}, status=201).run(client)


async def test_a_patch_crossing_the_reserve_keeps_what_landed_and_resumes(make_client: Any) -> None:
    client, disk = await _client(make_client, room=600_000)
    data = os.urandom(2 * MiB)
    path = await create(client, len(data))
    refused = await patch(client, path, 0, data)
    assert refused.status == 507, refused
    kept = int(refused.headers["Upload-Offset"])
    assert 0 < kept <= 600_000
    assert await offset_of(client, path) == kept
    assert (client.app[STORE].root / path.rsplit("/", 1)[1]).read_bytes() == data[:kept]
    assert (await patch(client, path, kept, data[kept:])).status == 507  # still no room: nothing more
    assert await offset_of(client, path) == kept
    disk.room = 10 * MiB  # space freed: the client resumes where it stopped
    done = await patch(client, path, kept, data[kept:])
    assert done.status == 204 and int(done.headers["Upload-Offset"]) == len(data)
    assert hashlib.sha256(await content_of(client, path)).digest() == hashlib.sha256(data).digest()


async def test_creation_with_upload_crossing_the_reserve_says_where_to_resume(make_client: Any) -> None:
    client, _ = await _client(make_client, room=300_000)
    data = os.urandom(MiB)
    result = await TusCase(
        "POST", "/files/", headers={"Upload-Length": str(len(data)), "Content-Type": OCTET}, body=data, status=507
    ).run(client)
    kept = int(result.headers["Upload-Offset"])
    assert await offset_of(client, path_of(result.headers["Location"])) == kept <= 300_000


async def test_a_final_upload_that_would_eat_into_the_reserve_is_507(make_client: Any) -> None:
    client, disk = await _client(make_client, room=MiB)
    parts = []
    for _ in range(2):
        parts.append(await create(client, 400_000, headers={"Upload-Concat": "partial"}))
        assert (await patch(client, parts[-1], 0, b"p" * 400_000)).status == 204
    before = sorted(await upload_ids(client))
    concat = {"Upload-Concat": "final;" + " ".join(parts)}
    await TusCase("POST", "/files/", headers=concat, status=507).run(client)  # 800 kB more, 200 kB room
    assert sorted(await upload_ids(client)) == before  # refused before anything was created
    disk.room = 10 * MiB
    await TusCase("POST", "/files/", headers=concat, status=201).run(client)


async def test_staging_a_checksummed_body_respects_the_reserve(make_client: Any, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    client = await make_client(disk_reserve=RESERVE, staging_memory=0, tmp_dir=str(staging))
    guard = client.app[SERVICE].staging_disk
    assert guard.path == str(staging)
    guard.free_space = lambda path: RESERVE + 10  # the staging disk is nearly full: no chunk fits
    data = os.urandom(300_000)
    path = await create(client, len(data))
    checksum = {"Upload-Checksum": "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()}
    refused = await patch(client, path, 0, data, headers=checksum)
    assert refused.status == 507 and refused.headers["Upload-Offset"] == "0"
    assert await offset_of(client, path) == 0  # an unverified body is never stored
    assert client.app[SERVICE].staging.available == 0  # no RAM was lent: nothing to give back
    guard.free_space = lambda path: 10 * MiB
    assert (await patch(client, path, 0, data, headers=checksum)).status == 204
    assert await content_of(client, path) == data
