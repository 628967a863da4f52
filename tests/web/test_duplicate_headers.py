"""A tus header sent twice is refused with 400, whatever the values: the server would act on the
first while a proxy in front may have judged the last (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from .helpers import TUS, path_of, upload_ids

OCTETS = "application/offset+octet-stream"


def _twice(name: str, first: str, second: str, **single: str) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict(TUS)
    headers.update(single)
    headers.add(name, first)
    headers.add(name, second)
    return headers


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("Upload-Length", ("5", "7")),
        ("Upload-Length", ("5", "5")),
        ("Upload-Metadata", ("filename YQ==", "filename Yg==")),
        ("Upload-Concat", ("partial", "partial")),
        ("X-HTTP-Method-Override", ("PATCH", "DELETE")),
    ],
)
async def test_creation_with_a_header_twice_creates_nothing(client: Any, name: str, values: tuple[str, str]) -> None:
    single = {} if name == "Upload-Length" else {"Upload-Length": "5"}
    response = await client.post("/files/", headers=_twice(name, *values, **single))
    assert response.status == 400
    assert name in await response.text()
    assert await upload_ids(client) == []


async def test_patch_with_two_offsets_writes_nothing(client: Any) -> None:
    created = await client.post("/files/", headers={**TUS, "Upload-Length": "10"})
    location = path_of(created.headers["Location"])
    headers = _twice("Upload-Offset", "0", "3", **{"Content-Type": OCTETS})
    response = await client.patch(location, headers=headers, data=b"abc")
    assert response.status == 400
    assert "Upload-Offset" in await response.text()
    head = await client.head(location, headers=TUS)
    assert head.headers["Upload-Offset"] == "0"


async def test_two_content_types_are_refused(client: Any) -> None:
    created = await client.post("/files/", headers={**TUS, "Upload-Length": "10"})
    headers = _twice("Content-Type", OCTETS, "text/plain", **{"Upload-Offset": "0"})
    response = await client.patch(path_of(created.headers["Location"]), headers=headers, data=b"abc")
    assert response.status == 400


async def test_two_tus_resumable_headers_are_refused_before_100_continue(client: Any) -> None:
    headers = _twice("Tus-Resumable", "1.0.0", "0.2.2", **{"Upload-Length": "5", "Expect": "100-continue"})
    response = await client.post("/files/", headers=headers)
    assert response.status == 400
