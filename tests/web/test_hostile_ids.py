"""Hostile upload ids (issue 11): dot segments, encoded dots, NUL and newline, raw on the wire (an
HTTP library would tidy them up). Every route answers 404, never 500, and no upload is touched."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tusd_py.protocol.errors import UploadNotFound
from tusd_py.stores.filesystem import FileStore

from .helpers import create, offset_of

IDS = ["..", "%2e%2e", "%2E%2E", ".%2e", "%00", "%0a", "%0d%0a", "abc%0a", "abc%00", "a%2f..%2fb", "%252e%252e"]
ROUTES = [
    ("GET", "/files/{id}"),
    ("HEAD", "/files/{id}"),
    ("PATCH", "/files/{id}"),
    ("DELETE", "/files/{id}"),
    ("OPTIONS", "/files/{id}"),
    ("POST", "/files/{id}"),
    ("GET", "/media/{id}"),
    ("GET", "/media/{id}/events"),
    ("GET", "/media/{id}/hls/master.m3u8"),
    ("GET", "/media/{id}/key"),
    ("GET", "/media/{id}/files/poster.jpg"),
]
_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


async def _raw(port: int, method: str, target: str, extra: str = "") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Length: 0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n{extra}Connection: close\r\n\r\n"
            .encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
    finally:
        writer.close()
    match = _STATUS.match(head)
    assert match, head
    return int(match.group(1))


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_a_hostile_id_is_404_on_every_route(client: Any, method: str, route: str) -> None:
    victim = await create(client, 5)
    for upload_id in IDS:
        status = await _raw(client.port, method, route.format(id=upload_id))
        assert status == 404, f"{method} {route.format(id=upload_id)} -> {status}"
    assert await offset_of(client, victim) == 0


async def test_an_override_with_a_hostile_id_is_404(client: Any) -> None:
    for upload_id in IDS:
        extra = "X-HTTP-Method-Override: DELETE\r\n"
        assert await _raw(client.port, "POST", f"/files/{upload_id}", extra) == 404


@pytest.mark.parametrize("upload_id", ["abc\n", "abc\r", "a b", "x" * 201])
async def test_the_file_store_never_takes_in_an_id_a_route_could_not_name(tmp_path: Path, upload_id: str) -> None:
    root = tmp_path / "uploads"
    root.mkdir()
    legacy = root / f"{upload_id}.info"  # a stray info file with a hostile name is not an upload
    legacy.write_text(json.dumps({"id": upload_id, "size": 0}))
    store = FileStore(tmp_path)
    try:
        assert [i async for i in store.list_upload_ids()] == []
        with pytest.raises(UploadNotFound):
            await store.get_upload(upload_id)
    finally:
        await store.close()
    assert legacy.exists()  # left for an operator
