"""PATCH: append at the offset (tus-spec C1, C16-C26, D2-D5)."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from tusd_py.app import QUEUE
from tusd_py.stores import appender

from .helpers import OCTET, TusCase, chunks, content_of, create, offset_of


def _patch(path: str, offset: int | str, body: Any, status: int, **extra: Any) -> TusCase:
    headers = {"Content-Type": OCTET, "Upload-Offset": str(offset), **extra.pop("headers", {})}
    return TusCase("PATCH", path, headers=headers, body=body, status=status, **extra)


def _id(path: str) -> str:
    return path.rsplit("/", 1)[1]


async def test_patch_appends_and_reports_the_new_offset(client: Any) -> None:
    path = await create(client, 11)
    await _patch(path, 0, b"hello", 204, expect_headers={"Upload-Offset": "5"}).run(client)
    await _patch(path, 5, b" world", 204, expect_headers={"Upload-Offset": "11"}).run(client)
    assert await content_of(client, path) == b"hello world"
    assert client.app[QUEUE].enqueued == {_id(path)}


async def test_many_small_patches_give_the_same_bytes(client: Any) -> None:
    data = bytes(range(256)) * 40
    path = await create(client, len(data))
    for start in range(0, len(data), 3000):
        await _patch(path, start, data[start : start + 3000], 204).run(client)
    assert await content_of(client, path) == data


@pytest.mark.parametrize(
    "content_type", [OCTET, "Application/Offset+Octet-Stream", f"{OCTET}; charset=binary", f" {OCTET} ;x=y"]
)
async def test_content_type_is_compared_without_case_and_parameters(client: Any, content_type: str) -> None:
    path = await create(client, 5)
    await TusCase(
        "PATCH", path, headers={"Content-Type": content_type, "Upload-Offset": "0"}, body=b"hello", status=204
    ).run(client)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain", "application/offset"])
async def test_wrong_or_missing_content_type_is_415(client: Any, content_type: str | None) -> None:
    path = await create(client, 5)
    headers = {"Upload-Offset": "0"} | ({} if content_type is None else {"Content-Type": content_type})
    await TusCase("PATCH", path, headers=headers, body=b"hello", status=415).run(client)
    assert await offset_of(client, path) == 0


@pytest.mark.parametrize("offset", [None, "-1", "abc", "1.5", "", "+0", "0x0"])
async def test_bad_or_missing_offset_is_400(client: Any, offset: str | None) -> None:
    path = await create(client, 5)
    headers = {"Content-Type": OCTET} | ({} if offset is None else {"Upload-Offset": offset})
    await TusCase("PATCH", path, headers=headers, body=b"hello", status=400).run(client)
    assert await offset_of(client, path) == 0


@pytest.mark.parametrize("offset", [0, 3, 100])
async def test_offset_mismatch_is_409_with_the_current_offset(client: Any, offset: int) -> None:
    path = await create(client, 100)
    await _patch(path, 0, b"x" * 50, 204).run(client)
    await _patch(path, offset, b"0123456789", 409, expect_headers={"Upload-Offset": "50"}).run(client)
    assert await offset_of(client, path) == 50


async def test_patch_of_an_unknown_upload_is_404(client: Any) -> None:
    await _patch("/files/nope", 0, b"hello", 404, absent_headers=["Upload-Offset"]).run(client)


async def test_body_past_the_length_is_413_and_stores_nothing(client: Any) -> None:
    path = await create(client, 100)
    await _patch(path, 0, b"x" * 90, 204).run(client)
    await _patch(path, 90, b"y" * 20, 413).run(client)
    assert await offset_of(client, path) == 90


async def test_chunked_body_past_the_length_is_413_and_stores_nothing(client: Any) -> None:
    path = await create(client, 100)
    await _patch(path, 0, b"x" * 90, 204).run(client)
    await _patch(path, 90, chunks(b"y" * 8, b"y" * 12), 413).run(client)
    assert await offset_of(client, path) == 90
    await _patch(path, 90, b"z" * 10, 204, expect_headers={"Upload-Offset": "100"}).run(client)
    assert await content_of(client, path) == b"x" * 90 + b"z" * 10


async def test_chunked_body_is_accepted(client: Any) -> None:
    path = await create(client, 10)
    await _patch(path, 0, chunks(b"01", b"234", b"56789"), 204, expect_headers={"Upload-Offset": "10"}).run(client)
    assert await content_of(client, path) == b"0123456789"


async def test_empty_patch_at_the_end_is_204_and_not_handed_off_again(client: Any) -> None:
    path = await create(client, 5)
    await _patch(path, 0, b"hello", 204).run(client)
    assert client.app[QUEUE].queue.qsize() == 1
    await _patch(path, 5, b"", 204, expect_headers={"Upload-Offset": "5"}).run(client)
    await _patch(path, 5, chunks(b""), 204, expect_headers={"Upload-Offset": "5"}).run(client)
    assert client.app[QUEUE].queue.qsize() == 1


async def test_non_empty_patch_at_the_end_is_413(client: Any) -> None:
    path = await create(client, 5)
    await _patch(path, 0, b"hello", 204).run(client)
    await _patch(path, 5, b"!", 413).run(client)
    await _patch(path, 5, chunks(b"!"), 413).run(client)
    assert await content_of(client, path) == b"hello"


@pytest.mark.parametrize("length", ["-1", "abc", "1.5"])
async def test_bad_upload_length_on_patch_is_400(client: Any, length: str) -> None:
    path = await create(client, None)
    await _patch(path, 0, b"hello", 400, headers={"Upload-Length": length}).run(client)
    assert await offset_of(client, path) == 0


# -- defer-length -----------------------------------------------------------------------------


async def test_deferred_length_is_declared_on_a_later_patch(client: Any) -> None:
    path = await create(client, None)
    await _patch(path, 0, b"0123456789", 204, expect_headers={"Upload-Offset": "10"}).run(client)
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Defer-Length": "1"}).run(client)
    assert client.app[QUEUE].enqueued == set()
    await _patch(path, 10, b"abcdefghij", 204, headers={"Upload-Length": "20"}).run(client)
    await TusCase(
        "HEAD",
        path,
        status=200,
        expect_headers={"Upload-Length": "20", "Upload-Offset": "20"},
        absent_headers=["Upload-Defer-Length"],
    ).run(client)
    assert client.app[QUEUE].enqueued == {_id(path)}
    await _patch(path, 20, b"", 400, headers={"Upload-Length": "30"}).run(client)


async def test_declaring_the_same_length_again_is_ignored(client: Any) -> None:
    path = await create(client, None)
    await _patch(path, 0, b"01234", 204, headers={"Upload-Length": "10"}).run(client)
    await _patch(path, 5, b"56789", 204, headers={"Upload-Length": "10"}, expect_headers={"Upload-Offset": "10"}).run(
        client
    )


async def test_a_known_length_cannot_change(client: Any) -> None:
    path = await create(client, 10)
    await _patch(path, 0, b"01234", 400, headers={"Upload-Length": "11"}).run(client)
    assert await offset_of(client, path) == 0


async def test_declared_length_below_the_offset_is_400(client: Any) -> None:
    path = await create(client, None)
    await _patch(path, 0, b"0123456789", 204).run(client)
    await _patch(path, 10, b"", 400, headers={"Upload-Length": "5"}).run(client)
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Defer-Length": "1"}).run(client)


async def test_declared_length_above_max_is_413(make_client: Any) -> None:
    client = await make_client(max_size=100)
    path = await create(client, None)
    await _patch(path, 0, b"x", 413, headers={"Upload-Length": "101"}).run(client)
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Defer-Length": "1", "Upload-Offset": "0"}).run(
        client
    )


async def test_deferred_body_past_max_size_is_413(make_client: Any) -> None:
    client = await make_client(max_size=10)
    path = await create(client, None)
    await _patch(path, 0, b"x" * 8, 204).run(client)
    await _patch(path, 8, b"x" * 5, 413).run(client)
    await _patch(path, 8, chunks(b"x" * 2, b"x" * 3), 413).run(client)
    assert await offset_of(client, path) == 8


async def test_deferred_upload_completes_with_an_empty_patch_that_declares_it(client: Any) -> None:
    path = await create(client, None)
    await _patch(path, 0, b"0123456789", 204).run(client)
    assert client.app[QUEUE].enqueued == set()
    await _patch(path, 10, b"", 204, headers={"Upload-Length": "10"}, expect_headers={"Upload-Offset": "10"}).run(
        client
    )
    assert client.app[QUEUE].enqueued == {_id(path)}
    assert await content_of(client, path) == b"0123456789"


async def test_a_full_disk_is_507_and_the_client_resumes_once_there_is_space(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytes(range(256)) * 800
    path = await create(client, len(data))

    def full(fd: int, buffers: list[bytes]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(appender, "_write_all", full)
    result = await _patch(path, 0, data, 507).run(client)
    assert b"ERR_INSUFFICIENT_STORAGE" in result.body and b"disk is full" in result.body
    assert await offset_of(client, path) == 0  # nothing landed, and HEAD says so
    monkeypatch.undo()
    await _patch(path, 0, data, 204, expect_headers={"Upload-Offset": str(len(data))}).run(client)
    assert await content_of(client, path) == data
