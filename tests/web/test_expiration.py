"""Expiration: Upload-Expires on unfinished uploads, 410 once expired (tus-spec E1-E5)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from tusd_py.app import SWEEPER

from .helpers import OCTET, PRESENT, TusCase, create, patch, path_of


def _expires(value: str) -> float:
    assert value.endswith(" GMT"), value  # IMF-fixdate
    moment = parsedate_to_datetime(value)
    assert moment.tzinfo is not None and moment.utcoffset() == UTC.utcoffset(moment)
    return moment.timestamp()


async def test_unfinished_uploads_carry_upload_expires(make_client: Any) -> None:
    client = await make_client(upload_expiry=3600)
    before = time.time()
    created = await TusCase(
        "POST", "/files/", headers={"Upload-Length": "10"}, status=201, expect_headers={"Upload-Expires": PRESENT}
    ).run(client)
    assert before + 3598 <= _expires(created.headers["Upload-Expires"]) <= time.time() + 3601
    path = path_of(created.headers["Location"])
    patched = await TusCase(
        "PATCH",
        path,
        headers={"Content-Type": OCTET, "Upload-Offset": "0"},
        body=b"01234",
        status=204,
        expect_headers={"Upload-Expires": PRESENT},
    ).run(client)
    assert _expires(patched.headers["Upload-Expires"]) >= _expires(created.headers["Upload-Expires"])
    headed = await TusCase("HEAD", path, status=200, expect_headers={"Upload-Expires": PRESENT}).run(client)
    assert headed.headers["Upload-Expires"] == patched.headers["Upload-Expires"]


async def test_finished_uploads_have_no_upload_expires(make_client: Any) -> None:
    client = await make_client(upload_expiry=3600)
    path = await create(client, 5)
    await TusCase(
        "PATCH",
        path,
        headers={"Content-Type": OCTET, "Upload-Offset": "0"},
        body=b"hello",
        status=204,
        absent_headers=["Upload-Expires"],
    ).run(client)
    await TusCase("HEAD", path, status=200, absent_headers=["Upload-Expires"]).run(client)
    report = await client.app[SWEEPER].run_once(now=time.time() + 10 * 3600)
    assert report.expired == 0
    await TusCase("HEAD", path, status=200).run(client)  # finished files never expire


async def test_deferred_upload_carries_upload_expires(make_client: Any) -> None:
    client = await make_client(upload_expiry=3600)
    await TusCase(
        "POST", "/files/", headers={"Upload-Defer-Length": "1"}, status=201, expect_headers={"Upload-Expires": PRESENT}
    ).run(client)


async def test_no_upload_expires_when_expiry_is_off(make_client: Any) -> None:
    client = await make_client(upload_expiry=0)
    created = await TusCase(
        "POST", "/files/", headers={"Upload-Length": "10"}, status=201, absent_headers=["Upload-Expires"]
    ).run(client)
    await TusCase("HEAD", path_of(created.headers["Location"]), status=200, absent_headers=["Upload-Expires"]).run(
        client
    )


async def test_the_sweeper_removes_an_expired_upload_which_then_answers_410(make_client: Any) -> None:
    client = await make_client(upload_expiry=3600)
    stale, fresh = await create(client, 10), await create(client, 10)
    assert (await patch(client, stale, 0, b"01234")).status == 204
    report = await client.app[SWEEPER].run_once(now=time.time() + 3700)
    assert report.expired == 2
    await TusCase("HEAD", stale, status=410, absent_headers=["Upload-Offset"]).run(client)
    await TusCase("PATCH", stale, headers={"Content-Type": OCTET, "Upload-Offset": "5"}, body=b"56789", status=410).run(
        client
    )
    await TusCase("DELETE", fresh, status=410).run(client)
    await client.app[SWEEPER].run_once(now=time.time() + 30 * 86400)  # tombstones purged
    await TusCase("HEAD", stale, status=404).run(client)


async def test_an_expired_upload_is_410_even_before_the_sweeper_runs(make_client: Any) -> None:
    client = await make_client(upload_expiry=1)
    path = await create(client, 10)
    await asyncio.sleep(1.2)
    await TusCase("HEAD", path, status=410, absent_headers=["Upload-Offset"]).run(client)
    await TusCase("HEAD", path, status=410).run(client)  # and it stays gone
