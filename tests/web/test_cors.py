"""CORS for browser clients (tus-spec X1-X4): preflights without Tus-Resumable, exposed headers,
CORS headers on errors too, disallowed origins refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from .helpers import OCTET, PRESENT, TusCase, create, patch

ORIGIN = "https://app.example"
EXPOSED = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Tus-Version",
    "Tus-Resumable",
    "Tus-Max-Size",
    "Tus-Extension",
    "Tus-Checksum-Algorithm",
)
ALLOWED = (
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Checksum",
    "Content-Type",
    "X-HTTP-Method-Override",
    "Authorization",
    "X-Requested-With",
)


def _names(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _assert_cors(headers: Any, origin: str = ORIGIN) -> None:
    assert headers.getall("Access-Control-Allow-Origin") == [origin]  # echoed, exactly one
    assert _names(headers["Access-Control-Expose-Headers"]) >= {h.lower() for h in EXPOSED}
    assert "origin" in _names(",".join(headers.getall("Vary", [])))


@pytest.mark.parametrize("path", ["/files/", "/files", "/files/{id}"])
@pytest.mark.parametrize("method", ["POST", "PATCH", "HEAD", "DELETE"])
async def test_preflight_needs_no_tus_resumable(client: Any, path: str, method: str) -> None:
    if "{id}" in path:
        path = path.format(id=(await create(client, 5)).rsplit("/", 1)[1])
    result = await TusCase(
        "OPTIONS",
        path,
        tus=False,
        status=204,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type",
        },
        expect_headers={"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Max-Age": "86400"},
    ).run(client)
    assert _names(result.headers["Access-Control-Allow-Methods"]) >= {"post", "head", "patch", "options", "delete"}
    assert _names(result.headers["Access-Control-Allow-Headers"]) >= {h.lower() for h in ALLOWED}


async def test_actual_responses_carry_cors_headers(client: Any) -> None:
    origin = {"Origin": ORIGIN}
    created = await TusCase(
        "POST", "/files/", headers={**origin, "Upload-Length": "10"}, status=201, expect_headers={"Location": PRESENT}
    ).run(client)
    _assert_cors(created.headers)
    path = "/files/" + created.headers["Location"].rsplit("/", 1)[1]
    patched = await TusCase(
        "PATCH", path, headers={**origin, "Content-Type": OCTET, "Upload-Offset": "0"}, body=b"01234", status=204
    ).run(client)
    _assert_cors(patched.headers)
    _assert_cors((await TusCase("HEAD", path, headers=origin, status=200).run(client)).headers)
    _assert_cors((await TusCase("DELETE", path, headers=origin, status=204).run(client)).headers)


async def test_error_responses_carry_cors_headers(client: Any) -> None:
    origin = {"Origin": ORIGIN}
    path = await create(client, 10)
    assert (await patch(client, path, 0, b"01234")).status == 204
    cases = [
        TusCase("HEAD", "/files/nope", headers=origin, status=404),
        TusCase(
            "PATCH",
            path,
            headers={**origin, "Content-Type": OCTET, "Upload-Offset": "0"},
            body=b"x",
            status=409,
            expect_headers={"Upload-Offset": "5"},
        ),
        TusCase(
            "PATCH",
            path,
            headers={**origin, "Tus-Resumable": "0.2.2", "Content-Type": OCTET, "Upload-Offset": "5"},
            body=b"x",
            status=412,
        ),
        TusCase(
            "PATCH", path, headers={**origin, "Content-Type": OCTET, "Upload-Offset": "5"}, body=b"x" * 9, status=413
        ),
        TusCase("PATCH", path, headers={**origin, "Upload-Offset": "5"}, body=b"x", status=415),
        TusCase("POST", "/files/", headers=origin, status=400),
    ]
    for case in cases:
        _assert_cors((await case.run(client)).headers)


async def test_no_cors_headers_without_an_origin(client: Any) -> None:
    await TusCase(
        "POST",
        "/files/",
        headers={"Upload-Length": "1"},
        status=201,
        absent_headers=["Access-Control-Allow-Origin", "Access-Control-Expose-Headers"],
    ).run(client)


async def test_a_disallowed_origin_is_403(make_client: Any) -> None:
    client = await make_client(cors_allow_origins="https://ok.example")
    await TusCase(
        "POST",
        "/files/",
        headers={"Origin": "https://evil.example", "Upload-Length": "1"},
        status=403,
        absent_headers=["Access-Control-Allow-Origin", "Location"],
    ).run(client)
    await TusCase(
        "OPTIONS",
        "/files/",
        tus=False,
        status=403,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    ).run(client)
    created = await TusCase(
        "POST", "/files/", headers={"Origin": "https://ok.example", "Upload-Length": "1"}, status=201
    ).run(client)
    _assert_cors(created.headers, "https://ok.example")


async def test_credentials_echo_the_origin(make_client: Any) -> None:
    client = await make_client(cors_allow_credentials=True, cors_allow_origins=f"https://other.example, {ORIGIN}")
    await TusCase(
        "POST",
        "/files/",
        headers={"Origin": ORIGIN, "Upload-Length": "1"},
        status=201,
        expect_headers={"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Allow-Credentials": "true"},
    ).run(client)


def test_credentials_with_any_origin_are_refused_at_start(make_settings: Any) -> None:
    with pytest.raises(ValidationError, match="TUSD_CORS_ALLOW_CREDENTIALS: cannot be true while"):
        make_settings(cors_allow_credentials=True)  # the default origins: '*'
    with pytest.raises(ValidationError, match="allows any origin"):
        make_settings(cors_allow_credentials=True, cors_allow_origins=f"{ORIGIN},*")


async def test_credentials_never_go_with_a_wildcard_even_unvalidated(aiohttp_client: Any, tmp_path: Any) -> None:
    from tusd_py.app import create_app
    from tusd_py.settings import Settings

    # model_construct skips the validators: the middleware must hold on its own
    settings = Settings.model_construct(data_dir=str(tmp_path), cors_allow_credentials=True, cors_allow_origins="*")
    client = await aiohttp_client(create_app(settings, background=False))
    for origin in (ORIGIN, "null"):
        result = await TusCase(
            "POST",
            "/files/",
            headers={"Origin": origin, "Upload-Length": "1"},
            status=201,
            absent_headers=["Access-Control-Allow-Credentials"],
        ).run(client)
        assert result.headers["Access-Control-Allow-Origin"] == origin  # still CORS, only without credentials
