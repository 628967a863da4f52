"""Hostile metadata (issue 11): a control character in a value the server puts into a response
header is refused at creation; a stored value that holds one anyway (written by hand, past the
creation rules) never makes a read of the upload fail: every GET, HEAD and /media answer stays below 500."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tusd_py.keys import SETTINGS, STORE
from tusd_py.protocol.headers import Metadata, encode_metadata
from tusd_py.protocol.info import UploadInfo, UploadState
from tusd_py.web.download import content_type_of, disposition_of

from .helpers import TusCase, b64, path_of, upload_ids


def _files(client: Any) -> set[str]:
    root = Path(client.app[SETTINGS].storage.data_dir)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "-journal" not in p.name}


@pytest.mark.parametrize(
    "value",
    [b"text/plain\n", b"text/plain\r\nSet-Cookie: a=b", b"video/mp4\x00", b"image/png\x7f", b"\ttext/plain"],
)
@pytest.mark.parametrize("key", ["filetype", "content_type", "filename", "name"])
async def test_a_control_character_is_400_and_creates_nothing(client: Any, key: str, value: bytes) -> None:
    before = _files(client)
    result = await TusCase(
        "POST", "/files/", headers={"Upload-Length": "5", "Upload-Metadata": f"{key} {b64(value)}"}, status=400
    ).run(client)
    assert result.body.startswith(b"ERR_INVALID_METADATA: "), result.body
    assert b"control character" in result.body
    assert await upload_ids(client) == []
    assert _files(client) == before  # no data file, no row beyond what the store had


async def test_control_bytes_in_an_application_key_are_kept_as_bytes(client: Any) -> None:
    metadata = f"blob {b64(bytes(range(32)))},filename {b64('ok.txt')}"
    result = await TusCase(
        "POST", "/files/", headers={"Upload-Length": "0", "Upload-Metadata": metadata}, status=201
    ).run(client)
    path = path_of(result.headers["Location"])
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Metadata": metadata}).run(client)
    got = await TusCase("GET", path, status=200).run(client)
    assert got.headers["Content-Disposition"] == "attachment; filename*=UTF-8''ok.txt"


async def _stored(client: Any, metadata: str, data: bytes = b"hello") -> str:
    """An upload written straight into the store with this raw metadata, finished."""
    upload_id = f"old{time.monotonic_ns()}"
    info = UploadInfo(id=upload_id, size=len(data), metadata=metadata, created_at=time.time())
    info.state = UploadState.COMPLETED
    upload = await client.app[STORE].create_upload(info)
    upload.data_path.write_bytes(data)
    return upload_id


NL_TYPE = b64("text/plain\n")
BAD_STORED = [
    f"filetype {NL_TYPE}",
    ",".join([f"content_type {b64('text/html' + chr(13) + chr(10) + 'X-Evil: 1')}", f"filename {b64('a' + chr(10))}"]),
    f"filetype {b64('image/png')},filename {b64('x' + chr(0) + '.png')}",
    "filetype !!!,filename",  # not even base64
    f"filetype {b64('text/plain')}" + "\nSet-Cookie: a=b",  # a newline in the raw header itself
    "k\udcffy " + b64("x"),  # a key that was never UTF-8
]


@pytest.mark.parametrize("metadata", BAD_STORED)
async def test_a_stored_bad_value_never_fails_a_read(client: Any, metadata: str) -> None:
    upload_id = await _stored(client, metadata)
    got = await TusCase("GET", f"/files/{upload_id}", status=200).run(client)
    assert got.body == b"hello"
    assert got.headers["Content-Type"] in ("application/octet-stream", "image/png", "text/plain")
    assert "\n" not in got.headers["Content-Disposition"]
    head = await TusCase("HEAD", f"/files/{upload_id}", status=200, expect_headers={"Upload-Offset": "5"}).run(client)
    assert head.headers.get("Upload-Metadata", metadata) == metadata  # echoed only when it can be a header
    status = await client.get(f"/media/{upload_id}")
    assert status.status == 200, await status.text()
    assert (await status.json())["id"] == upload_id
    async with client.get(f"/media/{upload_id}/events") as events:
        assert events.status == 200
        first = await asyncio.wait_for(events.content.readuntil(b"\n\n"), 5)
        assert first.startswith(b"id: ")


async def test_a_stored_type_with_a_newline_is_served_as_octet_stream(client: Any) -> None:
    upload_id = await _stored(client, f"filetype {NL_TYPE},filename {b64('a.txt')}")
    got = await TusCase(
        "GET",
        f"/files/{upload_id}",
        status=200,
        expect_headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": "attachment; filename*=UTF-8''a.txt",
        },
    ).run(client)
    assert got.body == b"hello"


@pytest.mark.parametrize(
    ("stated", "served", "disposition"),
    [
        ("text/plain\n", "application/octet-stream", "attachment"),
        ("image/png\n", "application/octet-stream", "attachment"),
        ("text/plain\r\nSet-Cookie: a=b", "application/octet-stream", "attachment"),
        ("vidéo/mp4", "application/octet-stream", "attachment"),  # a header is ASCII
        ("text/html", "text/html", "attachment"),
        ("image/png", "image/png", "inline"),
        ("video/mp4", "video/mp4", "inline"),
    ],
)
def test_the_served_type_is_a_plain_ascii_token(stated: str, served: str, disposition: str) -> None:
    meta = Metadata(values={"filetype": stated.encode()})
    assert content_type_of(meta) == served
    assert disposition_of(meta, served, "id1") == f"{disposition}; filename*=UTF-8''id1"


@pytest.mark.parametrize(
    ("filename", "encoded"),
    [
        ("a\r\nb.txt", "a%0D%0Ab.txt"),
        ('x"; filename=evil.html', "x%22%3B%20filename%3Devil.html"),
        ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd"),
        ("été.mp4", "%C3%A9t%C3%A9.mp4"),
    ],
)
def test_the_filename_is_always_percent_encoded(filename: str, encoded: str) -> None:
    meta = Metadata(values={"filename": filename.encode()})
    assert disposition_of(meta, "application/octet-stream", "id1") == f"attachment; filename*=UTF-8''{encoded}"


def test_stored_metadata_goes_through_the_lenient_reader() -> None:
    info = UploadInfo(id="x", size=0, metadata=encode_metadata({"filetype": b"text/plain\n", "filename": b"a"}))
    assert info.meta().values == {"filename": b"a"}
