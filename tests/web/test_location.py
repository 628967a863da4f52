"""Location of a new upload: absolute from Host, proxies trusted only when configured."""

from __future__ import annotations

import re
from typing import Any

from .helpers import TusCase, path_of

ID = r"[0-9a-f]{32}"


async def _location(client: Any, **headers: str) -> str:
    created = await TusCase("POST", "/files/", headers={"Upload-Length": "1", **headers}, status=201).run(client)
    location: str = created.headers["Location"]
    await TusCase("HEAD", path_of(location), status=200).run(client)  # it resolves
    return location


async def test_default_is_absolute_from_host(client: Any) -> None:
    assert re.fullmatch(rf"http://up\.example:8080/files/{ID}", await _location(client, Host="up.example:8080"))
    assert re.fullmatch(rf"http://127\.0\.0\.1:{client.port}/files/{ID}", await _location(client))


async def test_forwarded_headers_are_ignored_unless_behind_a_proxy(client: Any) -> None:
    location = await _location(
        client,
        Host="up.example",
        **{
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "Forwarded": "host=evil2.example;proto=https",
        },
    )
    assert re.fullmatch(rf"http://up\.example/files/{ID}", location)


async def test_x_forwarded_headers_behind_a_proxy(make_client: Any) -> None:
    client = await make_client(behind_proxy=True)
    location = await _location(
        client, Host="internal:1080", **{"X-Forwarded-Host": "up.example", "X-Forwarded-Proto": "https"}
    )
    assert re.fullmatch(rf"https://up\.example/files/{ID}", location)
    location = await _location(
        client, Host="internal", **{"X-Forwarded-Host": "up.example:443", "X-Forwarded-Proto": "https"}
    )
    assert re.fullmatch(rf"https://up\.example/files/{ID}", location)  # default port dropped


async def test_forwarded_header_behind_a_proxy(make_client: Any) -> None:
    client = await make_client(behind_proxy=True)
    location = await _location(
        client, Host="internal", Forwarded='for=192.0.2.1;host="up.example:8443";proto=https, for=10.0.0.1'
    )
    assert re.fullmatch(rf"https://up\.example:8443/files/{ID}", location)


async def test_a_bad_forwarded_proto_is_ignored(make_client: Any) -> None:
    client = await make_client(behind_proxy=True)
    location = await _location(client, Host="up.example", **{"X-Forwarded-Proto": "javascript"})
    assert re.fullmatch(rf"http://up\.example/files/{ID}", location)


async def test_public_base_url_wins(make_client: Any) -> None:
    client = await make_client(public_base_url="https://cdn.example/", behind_proxy=True)
    location = await _location(client, Host="internal", **{"X-Forwarded-Host": "up.example"})
    assert re.fullmatch(rf"https://cdn\.example/files/{ID}", location)


async def test_relative_location(make_client: Any) -> None:
    client = await make_client(relative_location=True)
    assert re.fullmatch(rf"/files/{ID}", await _location(client))


async def test_a_custom_base_path(make_client: Any) -> None:
    client = await make_client(base_path="uploads", relative_location=True)
    created = await TusCase("POST", "/uploads/", headers={"Upload-Length": "1"}, status=201).run(client)
    assert re.fullmatch(rf"/uploads/{ID}", created.headers["Location"])
    await TusCase("HEAD", created.headers["Location"], status=200).run(client)
    await TusCase("POST", "/files/", headers={"Upload-Length": "1"}, status=404).run(client)
