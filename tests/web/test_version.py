"""Tus-Resumable on every response; a missing or unsupported version is 412 and changes nothing
(tus-spec C4, C5)."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import OCTET, TusCase, create, offset_of, patch, upload_ids


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("OPTIONS", "/files/", 204),
        ("POST", "/files/", 400),  # no Upload-Length: an error still carries the header
        ("HEAD", "/files/doesnotexist", 404),
        ("PATCH", "/files/doesnotexist", 404),
        ("DELETE", "/files/doesnotexist", 404),
        ("GET", "/files/doesnotexist", 404),
        ("GET", "/nowhere/at/all", 404),
        ("PUT", "/files/", 405),
    ],
)
async def test_every_response_carries_tus_resumable(client: Any, method: str, path: str, status: int) -> None:
    headers = {"Content-Type": OCTET, "Upload-Offset": "0"} if method == "PATCH" else {}
    await TusCase(method, path, headers=headers, status=status).run(client)  # run() checks Tus-Resumable


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0", "2.0.0", ""])
async def test_post_with_a_bad_version_creates_nothing(client: Any, version: str | None) -> None:
    headers = {"Upload-Length": "10"} if version is None else {"Upload-Length": "10", "Tus-Resumable": version}
    await TusCase(
        "POST",
        "/files/",
        headers=headers,
        tus=False,
        status=412,
        expect_headers={"Tus-Version": "1.0.0"},
        absent_headers=["Location"],
    ).run(client)
    assert await upload_ids(client) == []


@pytest.mark.parametrize("version", [None, "0.2.2"])
async def test_patch_with_a_bad_version_stores_nothing(client: Any, version: str | None) -> None:
    path = await create(client, 10)
    headers = {"Content-Type": OCTET, "Upload-Offset": "0"}
    if version is not None:
        headers["Tus-Resumable"] = version
    await TusCase(
        "PATCH", path, headers=headers, body=b"hello", tus=False, status=412, expect_headers={"Tus-Version": "1.0.0"}
    ).run(client)
    assert await offset_of(client, path) == 0
    assert (await patch(client, path, 0, b"hello")).status == 204  # the upload still works


@pytest.mark.parametrize("version", [None, "0.2.2"])
async def test_delete_with_a_bad_version_keeps_the_upload(client: Any, version: str | None) -> None:
    path = await create(client, 10)
    headers = {} if version is None else {"Tus-Resumable": version}
    await TusCase("DELETE", path, headers=headers, tus=False, status=412).run(client)
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Offset": "0"}).run(client)


async def test_head_with_a_bad_version_is_412(client: Any) -> None:
    path = await create(client, 10)
    await TusCase(
        "HEAD", path, headers={"Tus-Resumable": "0.2.2"}, status=412, expect_headers={"Tus-Version": "1.0.0"}
    ).run(client)


async def test_the_412_is_also_given_to_an_overridden_method(client: Any) -> None:
    path = await create(client, 10)
    await TusCase(
        "POST",
        path,
        headers={
            "X-HTTP-Method-Override": "PATCH",
            "Tus-Resumable": "0.2.2",
            "Content-Type": OCTET,
            "Upload-Offset": "0",
        },
        body=b"hello",
        status=412,
    ).run(client)
    assert await offset_of(client, path) == 0
