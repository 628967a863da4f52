"""OPTIONS: capabilities (tus-spec C3, C6, C7, C27-C29, K3, K4)."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import PRESENT, TusCase, create

EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation"


@pytest.mark.parametrize("version", [None, "1.0.0", "9.9.9", "0.2.2"])
async def test_options_ignores_tus_resumable(client: Any, version: str | None) -> None:
    headers = {} if version is None else {"Tus-Resumable": version}
    await TusCase(
        "OPTIONS",
        "/files/",
        headers=headers,
        tus=False,
        status=204,
        expect_headers={"Tus-Version": "1.0.0", "Tus-Extension": EXTENSIONS},
    ).run(client)


async def test_options_advertises_checksum_algorithms_and_no_trailer(client: Any) -> None:
    result = await TusCase(
        "OPTIONS", "/files/", expect_headers={"Tus-Checksum-Algorithm": "sha1,md5,sha256,sha512"}
    ).run(client)
    assert "checksum-trailer" not in result.headers["Tus-Extension"].split(",")


async def test_options_advertises_10_gib_by_default(client: Any) -> None:
    await TusCase("OPTIONS", "/files/", expect_headers={"Tus-Max-Size": str(10 * 1024**3)}).run(client)


async def test_options_has_no_max_size_without_a_limit(make_client: Any) -> None:
    client = await make_client(max_size=0)  # 0: only the file store's ceiling, which is unbounded
    await TusCase("OPTIONS", "/files/", absent_headers=["Tus-Max-Size"]).run(client)


async def test_options_advertises_the_configured_max_size(make_client: Any) -> None:
    client = await make_client(max_size=1000)
    await TusCase("OPTIONS", "/files/", expect_headers={"Tus-Max-Size": "1000"}).run(client)


async def test_options_without_expiry_omits_the_expiration_extension(make_client: Any) -> None:
    client = await make_client(upload_expiry=0)
    result = await TusCase("OPTIONS", "/files/", expect_headers={"Tus-Extension": PRESENT}).run(client)
    assert "expiration" not in result.headers["Tus-Extension"].split(",")


async def test_options_on_an_upload_url(client: Any) -> None:
    path = await create(client, 10)
    await TusCase("OPTIONS", path, tus=False, expect_headers={"Tus-Version": "1.0.0", "Tus-Extension": EXTENSIONS}).run(
        client
    )
