"""Checksum extension over HTTP (tus-spec K1-K5, K7): verify before keeping, 460 on mismatch."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tusd_py.app import QUEUE

from .helpers import OCTET, TusCase, b64, chunks, content_of, create, offset_of

BODY = b"hello world"


def _checksum_patch(path: str, value: str, status: int, body: Any = BODY, offset: int = 0) -> TusCase:
    return TusCase(
        "PATCH",
        path,
        headers={"Content-Type": OCTET, "Upload-Offset": str(offset), "Upload-Checksum": value},
        body=body,
        status=status,
    )


async def test_the_spec_example_sha1(client: Any) -> None:
    path = await create(client, 11)
    await _checksum_patch(path, "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", 204).run(client)
    assert await content_of(client, path) == BODY


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256", "sha512"])
async def test_each_algorithm_verifies_a_matching_body(client: Any, algorithm: str) -> None:
    path = await create(client, 20)
    digest = b64(hashlib.new(algorithm, BODY).digest())
    result = await _checksum_patch(path, f"{algorithm} {digest}", 204).run(client)
    assert result.headers["Upload-Offset"] == "11"


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256", "sha512"])
async def test_mismatch_is_460_and_keeps_nothing(client: Any, algorithm: str) -> None:
    path = await create(client, 20)
    await _checksum_patch(path, "sha1 " + b64(hashlib.sha1(b"x").digest()), 204, body=b"x").run(client)
    wrong = b64(hashlib.new(algorithm, b"something else").digest())
    result = await _checksum_patch(path, f"{algorithm} {wrong}", 460, offset=1).run(client)
    assert result.reason == "Checksum Mismatch"
    assert await offset_of(client, path) == 1
    right = b64(hashlib.new(algorithm, BODY).digest())
    await _checksum_patch(path, f"{algorithm} {right}", 204, offset=1).run(client)
    assert await offset_of(client, path) == 12


async def test_mismatch_on_a_chunked_body_keeps_nothing(client: Any) -> None:
    path = await create(client, 11)
    wrong = b64(hashlib.sha1(b"nope").digest())
    await _checksum_patch(path, f"sha1 {wrong}", 460, body=chunks(b"hello", b" world")).run(client)
    assert await offset_of(client, path) == 0
    right = b64(hashlib.sha1(BODY).digest())
    await _checksum_patch(path, f"sha1 {right}", 204, body=chunks(b"hello", b" world")).run(client)


async def test_mismatch_on_the_last_chunk_does_not_complete(client: Any) -> None:
    path = await create(client, 11)
    await _checksum_patch(path, "md5 " + b64(hashlib.md5(b"x").digest()), 460).run(client)
    assert client.app[QUEUE].enqueued == set()


@pytest.mark.parametrize(
    "value",
    [
        "whirlpool AAAA",  # unknown algorithm
        "crc32 AAAAAA==",
        "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",  # names are lowercase
        "sha1",  # no digest
        "sha1 ",
        "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        "sha1 !!!!",  # bad base64
        "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0",  # missing padding
        "sha1 AAAA",  # wrong digest length
        "sha256 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",  # a sha1 digest given as sha256
    ],
)
async def test_unknown_or_malformed_checksum_is_400(client: Any, value: str) -> None:
    path = await create(client, 11)
    await _checksum_patch(path, value, 400).run(client)
    assert await offset_of(client, path) == 0


async def test_checksummed_body_above_the_cap_is_413(make_client: Any) -> None:
    client = await make_client(checksum_max_size=4)
    path = await create(client, 11)
    await _checksum_patch(path, "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", 413).run(client)
    assert await offset_of(client, path) == 0
