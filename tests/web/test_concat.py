"""Concatenation: partial and final uploads (tus-spec CC1-CC11)."""

from __future__ import annotations

from typing import Any

import pytest

from tusd_py.app import QUEUE

from .helpers import OCTET, PRESENT, Result, TusCase, b64, content_of, create, patch, path_of, upload_ids

PARTIAL = {"Upload-Concat": "partial"}


async def _partial(client: Any, data: bytes, *, finish: bool = True, metadata: str | None = None) -> str:
    headers = dict(PARTIAL) | ({"Upload-Metadata": metadata} if metadata else {})
    path = await create(client, len(data), headers=headers)
    if finish and data:
        assert (await patch(client, path, 0, data)).status == 204
    return path


def _final(value: str, status: int = 201, **extra: Any) -> TusCase:
    headers = {"Upload-Concat": value, **extra.pop("headers", {})}
    return TusCase("POST", "/files/", headers=headers, status=status, **extra)


async def test_final_with_relative_urls(client: Any) -> None:
    a, b = await _partial(client, b"hello"), await _partial(client, b" world")
    concat = f"final;{a} {b}"
    created = await _final(concat, expect_headers={"Location": PRESENT, "Upload-Offset": "11"}).run(client)
    final = path_of(created.headers["Location"])
    await TusCase(
        "HEAD",
        final,
        status=200,
        expect_headers={"Upload-Length": "11", "Upload-Offset": "11", "Upload-Concat": concat},
        absent_headers=["Upload-Expires", "Upload-Metadata"],
    ).run(client)
    assert await content_of(client, final) == b"hello world"


async def test_final_with_absolute_urls(client: Any) -> None:
    locations = []
    for data in (b"abc", b"defg"):
        created = await TusCase(
            "POST", "/files/", headers={**PARTIAL, "Upload-Length": str(len(data))}, status=201
        ).run(client)
        location = created.headers["Location"]
        assert location.startswith("http://")
        assert (await patch(client, path_of(location), 0, data)).status == 204
        locations.append(location)
    concat = "final;" + " ".join(locations)
    created = await _final(concat).run(client)
    final = path_of(created.headers["Location"])
    await TusCase("HEAD", final, status=200, expect_headers={"Upload-Concat": concat, "Upload-Length": "7"}).run(client)
    assert await content_of(client, final) == b"abcdefg"


async def test_a_partial_may_serve_several_finals(client: Any) -> None:
    a, b = await _partial(client, b"hello"), await _partial(client, b"world")
    created = await _final(f"final;{a} {b}").run(client)
    assert await content_of(client, path_of(created.headers["Location"])) == b"helloworld"
    created = await _final(f"final;{a}").run(client)  # again in another final (once per final)
    assert await content_of(client, path_of(created.headers["Location"])) == b"hello"


async def test_head_of_a_partial_says_partial(client: Any) -> None:
    a = await _partial(client, b"hello", finish=False)
    await TusCase(
        "HEAD",
        a,
        status=200,
        expect_headers={"Upload-Concat": "partial", "Upload-Offset": "0", "Upload-Length": "5"},
    ).run(client)


async def test_partial_metadata_is_not_carried_over(client: Any) -> None:
    a = await _partial(client, b"hello", metadata=f"a {b64('partial')}")
    final_meta = f"b {b64('final')}"
    created = await _final(f"final;{a}", headers={"Upload-Metadata": final_meta}).run(client)
    await TusCase(
        "HEAD", path_of(created.headers["Location"]), status=200, expect_headers={"Upload-Metadata": final_meta}
    ).run(client)
    created = await _final(f"final;{a}").run(client)
    await TusCase("HEAD", path_of(created.headers["Location"]), status=200, absent_headers=["Upload-Metadata"]).run(
        client
    )


async def test_partials_are_never_handed_off_but_the_final_is(client: Any) -> None:
    a, b = await _partial(client, b"hello"), await _partial(client, b"!")
    await TusCase("HEAD", a, status=200).run(client)  # a HEAD retries completion: still no hand-off
    assert client.app[QUEUE].enqueued == set()
    created = await _final(f"final;{a} {b}").run(client)
    assert client.app[QUEUE].enqueued == {path_of(created.headers["Location"]).rsplit("/", 1)[1]}


async def test_patch_on_a_final_upload_is_403(client: Any) -> None:
    a = await _partial(client, b"hello")
    final = path_of((await _final(f"final;{a}").run(client)).headers["Location"])
    for offset in (0, 5):
        await TusCase(
            "PATCH", final, headers={"Content-Type": OCTET, "Upload-Offset": str(offset)}, body=b"xx", status=403
        ).run(client)
    assert await content_of(client, final) == b"hello"
    assert await content_of(client, a) == b"hello"


async def _refused(client: Any, case: TusCase) -> Result:
    before = sorted(await upload_ids(client))
    result = await case.run(client)
    assert "Location" not in result.headers
    assert sorted(await upload_ids(client)) == before  # nothing created
    return result


async def test_final_over_an_unfinished_partial_is_400(client: Any) -> None:
    a, b = await _partial(client, b"hello"), await _partial(client, b"world", finish=False)
    assert (await patch(client, b, 0, b"wor")).status == 204
    await _refused(client, _final(f"final;{a} {b}", 400))


async def test_final_naming_an_unknown_upload_is_404(client: Any) -> None:
    a = await _partial(client, b"hello")
    await _refused(client, _final(f"final;{a} /files/doesnotexist", 404))


async def test_final_over_a_plain_upload_is_400(client: Any) -> None:
    a = await _partial(client, b"hello")
    plain = await create(client, 3)
    assert (await patch(client, plain, 0, b"abc")).status == 204
    await _refused(client, _final(f"final;{a} {plain}", 400))


async def test_final_over_another_final_is_400(client: Any) -> None:
    a = await _partial(client, b"hello")
    final = path_of((await _final(f"final;{a}").run(client)).headers["Location"])
    await _refused(client, _final(f"final;{final}", 400))


@pytest.mark.parametrize("url", ["/other/{id}", "http://example.com/elsewhere/{id}", "/files/{id}/more", "/files/"])
async def test_final_with_a_url_outside_the_base_path_is_400(client: Any, url: str) -> None:
    a = await _partial(client, b"hello")
    await _refused(client, _final("final;" + url.format(id=a.rsplit("/", 1)[1]), 400))


@pytest.mark.parametrize("extra", [{"Upload-Length": "5"}, {"Upload-Defer-Length": "1"}])
async def test_final_with_a_length_is_400(client: Any, extra: dict[str, str]) -> None:
    a = await _partial(client, b"hello")
    await _refused(client, _final(f"final;{a}", 400, headers=extra))


@pytest.mark.parametrize("value", ["final;", "final", "partial;x", "whole"])
async def test_malformed_upload_concat_is_400(client: Any, value: str) -> None:
    await _refused(client, _final(value, 400))


async def test_final_with_a_body_is_403(client: Any) -> None:
    a = await _partial(client, b"hello")
    await _refused(client, _final(f"final;{a}", 403, headers={"Content-Type": OCTET}, body=b"xx"))


async def test_final_above_max_size_is_413(make_client: Any) -> None:
    client = await make_client(max_size=8)
    a, b = await _partial(client, b"hello"), await _partial(client, b"world")
    await _refused(client, _final(f"final;{a} {b}", 413))
    await _final(f"final;{a}").run(client)  # within the limit


async def test_a_partial_listed_twice_is_400_before_any_lookup(client: Any) -> None:
    """One 1 MiB partial listed 150 times would make a 150 MiB upload: refused before anything is read,
    looked up (the unknown id is not reported) or created."""
    a = await _partial(client, b"hello")
    result = await _refused(client, _final(f"final;{a} /files/doesnotexist {a}", 400))
    upload_id = a.rsplit("/", 1)[1]
    assert result.body.decode().startswith("ERR_INVALID_CONCAT:") and upload_id in result.body.decode()
    absolute = f"http://{client.host}:{client.port}{a}"  # the same upload under another spelling
    await _refused(client, _final(f"final;{a} {absolute}", 400))


async def test_more_partials_than_allowed_is_400(make_client: Any) -> None:
    client = await make_client(concat_max_partials=2)
    a, b, c = [await _partial(client, data) for data in (b"a", b"b", b"c")]
    result = await _refused(client, _final(f"final;{a} {b} {c}", 400))
    assert result.body.startswith(b"ERR_INVALID_CONCAT:") and b"at most 2" in result.body
    created = await _final(f"final;{a} {b}").run(client)
    assert await content_of(client, path_of(created.headers["Location"])) == b"ab"
