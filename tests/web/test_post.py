"""POST: creation, creation-with-upload, defer-length at creation (tus-spec CR2-CR9, CU2-CU6, CR6)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tusd_py.app import QUEUE

from .helpers import OCTET, PRESENT, TusCase, b64, chunks, head, offset_of, path_of, upload_ids


async def test_create_answers_201_with_location_and_offset_zero(client: Any) -> None:
    result = await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "100"},
        status=201,
        expect_headers={"Location": PRESENT, "Upload-Offset": "0"},
    ).run(client)
    path = path_of(result.headers["Location"])
    assert path.startswith("/files/") and len(path) > len("/files/")
    await TusCase(
        "HEAD",
        path,
        status=200,
        expect_headers={"Upload-Offset": "0", "Upload-Length": "100"},
        absent_headers=["Upload-Defer-Length"],
    ).run(client)


async def test_create_without_trailing_slash(client: Any) -> None:
    await TusCase("POST", "/files", headers={"Upload-Length": "1"}, status=201).run(client)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither length nor defer
        {"Upload-Length": "10", "Upload-Defer-Length": "1"},  # both
        {"Upload-Defer-Length": "0"},
        {"Upload-Defer-Length": "yes"},
        {"Upload-Length": "-5"},
        {"Upload-Length": "10x"},
        {"Upload-Length": "abc"},
        {"Upload-Length": "1.5"},
        {"Upload-Length": ""},
        {"Upload-Length": "99999999999999999999"},
        {"Upload-Length": "10", "Upload-Concat": "nonsense"},
    ],
)
async def test_bad_length_headers_are_400_and_create_nothing(client: Any, headers: dict[str, str]) -> None:
    await TusCase("POST", "/files/", headers=headers, status=400, absent_headers=["Location"]).run(client)
    assert await upload_ids(client) == []


async def test_length_above_max_size_is_413_and_creates_nothing(make_client: Any) -> None:
    client = await make_client(max_size=1000)
    await TusCase("POST", "/files/", headers={"Upload-Length": "1001"}, status=413).run(client)
    assert await upload_ids(client) == []
    await TusCase("POST", "/files/", headers={"Upload-Length": "1000"}, status=201).run(client)


async def test_the_default_max_size_is_10_gib(client: Any) -> None:
    gib10 = 10 * 1024**3
    await TusCase("POST", "/files/", headers={"Upload-Length": str(gib10 + 1)}, status=413).run(client)
    assert await upload_ids(client) == []
    await TusCase("POST", "/files/", headers={"Upload-Length": str(gib10)}, status=201).run(client)


@pytest.mark.parametrize(
    "metadata",
    [
        "filename d29ybGQ=",
        "filename d29ybGQ=,is_confidential",
        "a Zm9v,empty,b YmFy",
        "a ,b Zm9v",  # an empty value with its separator
        "k\u00e9y Zm9v".encode().decode("latin-1"),  # non-ASCII key bytes are tolerated
        "x eA==,y eXk=,z enp6",
    ],
)
async def test_valid_metadata_is_echoed_exactly_by_head(client: Any, metadata: str) -> None:
    result = await TusCase(
        "POST", "/files/", headers={"Upload-Length": "1", "Upload-Metadata": metadata}, status=201
    ).run(client)
    await TusCase(
        "HEAD", path_of(result.headers["Location"]), status=200, expect_headers={"Upload-Metadata": metadata}
    ).run(client)


@pytest.mark.parametrize(
    "metadata",
    [
        "a Zm9v,a YmFy",  # duplicate key
        "a !!!",  # not base64
        "a Zm9",  # base64 without padding
        "a Zm9v, Zm9v",  # empty key (a leading space of the whole header is stripped by HTTP)
        "a b c",
        "a Zm9v,,b YmFy",  # empty pair
        "a Zm9v,",
        "a\tZm9v",
    ],
)
async def test_malformed_metadata_is_400_and_creates_nothing(client: Any, metadata: str) -> None:
    await TusCase("POST", "/files/", headers={"Upload-Length": "1", "Upload-Metadata": metadata}, status=400).run(
        client
    )
    assert await upload_ids(client) == []


async def test_metadata_cannot_smuggle_headers(client: Any) -> None:
    evil = b64("x\r\nSet-Cookie: a=b")
    # a value the server reads as text (it becomes a download's file name): refused outright
    await TusCase("POST", "/files/", headers={"Upload-Length": "1", "Upload-Metadata": f"name {evil}"}, status=400).run(
        client
    )
    assert await upload_ids(client) == []
    # any other value is opaque bytes: kept, and echoed only as the base64 it came in
    result = await TusCase(
        "POST", "/files/", headers={"Upload-Length": "1", "Upload-Metadata": f"note {evil}"}, status=201
    ).run(client)
    await TusCase(
        "HEAD",
        path_of(result.headers["Location"]),
        status=200,
        expect_headers={"Upload-Metadata": f"note {evil}"},
        absent_headers=["Set-Cookie"],
    ).run(client)


async def test_defer_length_at_creation(client: Any) -> None:
    result = await TusCase("POST", "/files/", headers={"Upload-Defer-Length": "1"}, status=201).run(client)
    await TusCase(
        "HEAD",
        path_of(result.headers["Location"]),
        status=200,
        expect_headers={"Upload-Defer-Length": "1", "Upload-Offset": "0"},
        absent_headers=["Upload-Length"],
    ).run(client)


async def test_zero_length_upload_is_complete_and_handed_off_once(client: Any) -> None:
    result = await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "0"},
        status=201,
        expect_headers={"Upload-Offset": "0"},
        absent_headers=["Upload-Expires"],
    ).run(client)
    path = path_of(result.headers["Location"])
    upload_id = path.rsplit("/", 1)[1]
    assert client.app[QUEUE].enqueued == {upload_id}
    assert client.app[QUEUE].queue.qsize() == 1
    await TusCase(
        "HEAD",
        path,
        status=200,
        expect_headers={"Upload-Offset": "0", "Upload-Length": "0"},
        absent_headers=["Upload-Expires"],
    ).run(client)
    assert client.app[QUEUE].queue.qsize() == 1  # HEAD does not hand it off again
    async with client.get(path) as response:
        assert response.status == 200 and await response.read() == b""


async def test_unfinished_upload_is_not_handed_off(client: Any) -> None:
    await TusCase("POST", "/files/", headers={"Upload-Length": "3"}, status=201).run(client)
    assert client.app[QUEUE].enqueued == set()


# -- creation-with-upload ---------------------------------------------------------------------


async def test_creation_with_upload_stores_the_body(client: Any) -> None:
    result = await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "100", "Content-Type": OCTET},
        body=b"hello",
        status=201,
        expect_headers={"Location": PRESENT, "Upload-Offset": "5"},
    ).run(client)
    assert await offset_of(client, path_of(result.headers["Location"])) == 5


async def test_creation_with_upload_of_everything_completes(client: Any) -> None:
    result = await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "5", "Content-Type": OCTET},
        body=b"hello",
        status=201,
        expect_headers={"Upload-Offset": "5"},
        absent_headers=["Upload-Expires"],
    ).run(client)
    upload_id = path_of(result.headers["Location"]).rsplit("/", 1)[1]
    assert client.app[QUEUE].enqueued == {upload_id}


async def test_creation_with_upload_accepts_a_chunked_body(client: Any) -> None:
    result = await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "10", "Content-Type": OCTET},
        body=chunks(b"hel", b"lo"),
        status=201,
        expect_headers={"Upload-Offset": "5"},
    ).run(client)
    assert await offset_of(client, path_of(result.headers["Location"])) == 5


async def test_body_larger_than_length_is_413_and_creates_nothing(client: Any) -> None:
    await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "3", "Content-Type": OCTET},
        body=b"hello",
        status=413,
        absent_headers=["Location"],
    ).run(client)
    assert await upload_ids(client) == []


async def test_chunked_body_larger_than_length_is_413_and_stores_nothing(client: Any) -> None:
    result = await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "3", "Content-Type": OCTET},
        body=chunks(b"he", b"llo"),
        status=413,
        expect_headers={"Location": PRESENT},
    ).run(client)
    assert await offset_of(client, path_of(result.headers["Location"])) == 0


async def test_body_with_wrong_content_type_is_415(client: Any) -> None:
    await TusCase(
        "POST", "/files/", headers={"Upload-Length": "5", "Content-Type": "text/plain"}, body=b"hello", status=415
    ).run(client)
    assert await upload_ids(client) == []


async def test_empty_body_with_another_content_type_is_no_body(client: Any) -> None:
    await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "5", "Content-Type": "application/x-www-form-urlencoded"},
        body=b"",
        status=201,
        expect_headers={"Upload-Offset": "0"},
    ).run(client)


async def test_failed_body_still_tells_the_client_where_the_upload_is(client: Any) -> None:
    wrong = b64(hashlib.sha1(b"other").digest())
    result = await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "5", "Content-Type": OCTET, "Upload-Checksum": f"sha1 {wrong}"},
        body=b"hello",
        status=460,
        expect_headers={"Location": PRESENT},
    ).run(client)
    assert result.reason == "Checksum Mismatch"
    answer = await head(client, path_of(result.headers["Location"]))
    assert answer.status == 200 and answer.headers["Upload-Offset"] == "0"


async def test_creation_with_upload_and_a_matching_checksum(client: Any) -> None:
    digest = b64(hashlib.sha256(b"hello").digest())
    await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "9", "Content-Type": OCTET, "Upload-Checksum": f"sha256 {digest}"},
        body=b"hello",
        status=201,
        expect_headers={"Upload-Offset": "5"},
    ).run(client)
