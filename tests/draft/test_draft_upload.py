"""The resumable-upload draft, interop versions 3 to 8, on the file store and on S3, through a
client that reads the 104 interim responses off the socket (tests/draft/client.py): creation
with and without content, resumption from the HEAD offset after a dropped connection,
completion, cancellation, and every problem type."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import pytest

from tests.draft.client import PARTIAL, Connection, DraftClient, Message, request_head, sha256
from tests.draft.conftest import StartServer

VERSIONS = [3, 4, 5, 6, 7, 8]
PROBLEMS = "https://iana.org/assignments/http-problem-types#"


@pytest.fixture(params=VERSIONS, ids=lambda v: f"interop{v}")
def version(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
async def server(start_server: StartServer) -> Any:
    return await start_server()


@pytest.fixture
def client(server: Any, version: int) -> DraftClient:
    return DraftClient(server.port, version)


async def stored(server: Any, path: str) -> bytes:
    """The upload's bytes as the server holds them (the tus GET of the same upload)."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{server.port}{path}") as response:
        assert response.status == 200, await response.text()
        return await response.read()


async def settled_offset(client: DraftClient, path: str) -> int:
    """The offset once the server has noticed the dropped connection (on its next read): two
    HEADs in a row agree. Each HEAD also stops a request still holding the upload."""
    offset = -1
    for _ in range(50):
        head = await client.offset(path)
        assert head.status == 204
        if int(head.headers["Upload-Offset"]) == offset:
            return offset
        offset = int(head.headers["Upload-Offset"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"the offset of {path} never settled")


def check_104(client: DraftClient, interim: list[Message], location: str) -> None:
    """Exactly one 104, naming the upload, echoing the version, with the limits from interop 6."""
    assert [m.status for m in interim] == [104]
    first = interim[0].headers
    assert first["Location"] == location
    assert first["Upload-Draft-Interop-Version"] == str(client.version)
    if client.version >= 6:
        assert first["Upload-Limit"].startswith("min-size=0, max-size=")
    else:
        assert "Upload-Limit" not in first  # the header exists from -04 (interop 6) on


def check_problem(message: Message, status: int, problem: str, client: DraftClient, since: int) -> dict[str, Any]:
    """The status; from the interop version that defines ``problem``, its RFC 9457 document."""
    assert message.status == status, message.body
    if client.version < since:
        assert not message.headers["Content-Type"].startswith("application/problem+json")
        return {}
    assert message.headers["Content-Type"].startswith("application/problem+json")
    document: dict[str, Any] = message.json()
    assert document["type"] == PROBLEMS + problem
    assert document["status"] == status and document["title"]
    return document


async def test_creation_with_the_whole_content(server: Any, client: DraftClient) -> None:
    data = os.urandom(300_000)
    created = await client.create(data, complete=True, headers={"Content-Type": "video/mp4"})
    assert created.status == 201
    check_104(client, created.interim, created.headers["Location"])
    assert created.headers["Upload-Offset"] == str(len(data))
    assert client.is_complete(created.final)  # type: ignore[arg-type]
    path = client.path_of(created.headers["Location"])
    assert sha256(await stored(server, path)) == sha256(data)
    head = await client.offset(path)
    assert head.status == 204 and head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-Length"] == str(len(data))
    assert client.is_complete(head.final)  # type: ignore[arg-type]


async def test_creation_without_content_then_appends(server: Any, client: DraftClient) -> None:
    data = os.urandom(200_000)
    created = await client.create(complete=False)
    assert created.status == 201
    check_104(client, created.interim, created.headers["Location"])
    assert created.headers["Upload-Offset"] == "0" and not client.is_complete(created.final)  # type: ignore[arg-type]
    path = client.path_of(created.headers["Location"])
    head = await client.offset(path)
    assert "Upload-Length" not in head.headers  # not told yet
    first = await client.append(path, 0, data[:70_000], complete=False)
    assert first.status == (204 if client.version >= 7 else 201)
    assert first.headers["Upload-Offset"] == "70000" and not client.is_complete(first.final)  # type: ignore[arg-type]
    last = await client.append(path, 70_000, data[70_000:], complete=True)
    assert last.status == 201 and client.is_complete(last.final)  # type: ignore[arg-type]
    assert last.interim == []  # a 104 announces an upload resource, once, at its creation
    head = await client.offset(path)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(data))
    assert sha256(await stored(server, path)) == sha256(data)


async def test_resumption_after_an_interrupted_creation(server: Any, client: DraftClient) -> None:
    """The creation's client goes silent mid-content (a dead network: no reset arrives); the 104
    told it where the upload is. A HEAD stops the hanging request (the drafts' recommended
    concurrency handling) and gives the offset; the rest goes in one append."""
    data = os.urandom(400_000)
    headers = client.headers({**client.complete(True), "Content-Length": str(len(data))})
    hanging = await Connection.open(client.port)
    await hanging.send(request_head("POST", "/files/", headers) + data[:150_000])
    interim = await hanging.read_message("POST")
    assert interim is not None
    check_104(client, [interim], interim.headers["Location"])
    path = client.path_of(interim.headers["Location"])
    # HEAD until the creation has answered: a HEAD that comes before the creation took the upload
    # finds it at 0; the next one asks the creation to stop, which answers 423 on its connection.
    for _ in range(200):
        head = await client.offset(path)
        assert head.status == 204 and head.headers["Upload-Length"] == str(len(data))  # told at creation
        try:
            stopped = await asyncio.wait_for(hanging.exchange("POST"), 0.1)
            break
        except TimeoutError:
            continue
    hanging.close()
    assert stopped.status == 423 and stopped.headers["Location"] == interim.headers["Location"], stopped.final
    offset = int((await client.offset(path)).headers["Upload-Offset"])
    assert 0 <= offset <= 150_000
    rest = await client.append(path, offset, data[offset:], complete=True)
    assert rest.status == 201, rest.final
    assert sha256(await stored(server, path)) == sha256(data)


async def test_resumption_after_a_hanging_append(server: Any, client: DraftClient) -> None:
    """An append whose client went silent mid-content (a dead network: no reset arrives). The
    next HEAD stops it (the drafts' recommended concurrency handling), keeps what arrived and
    tells where to go on."""
    data = os.urandom(300_000)
    path = client.path_of((await client.create(data[:1000], complete=False)).headers["Location"])
    rest = data[1000:]
    headers = client.headers({"Upload-Offset": "1000", **client.complete(True), "Content-Length": str(len(rest))})
    if client.version >= 6:
        headers["Content-Type"] = PARTIAL
    hanging = await Connection.open(client.port)
    await hanging.send(request_head("PATCH", path, headers) + rest[:100_000])
    # The append records the length (its Content-Length with "complete") before it reads a byte:
    # once a HEAD shows it, the append has the upload, and that HEAD has asked it to stop.
    for _ in range(200):
        head = await client.offset(path)
        if "Upload-Length" in head.headers:
            break
        await asyncio.sleep(0.05)
    assert head.headers["Upload-Length"] == str(len(data))
    stopped = await hanging.exchange("PATCH")
    hanging.close()
    assert stopped.status == 423, stopped.final  # ERR_UPLOAD_INTERRUPTED: a newer request took over
    offset = await settled_offset(client, path)
    assert 1000 <= offset <= 101_000
    again = await client.append(path, offset, data[offset:], complete=True)
    assert again.status == 201 and client.is_complete(again.final)  # type: ignore[arg-type]
    assert sha256(await stored(server, path)) == sha256(data)


async def test_completion_of_an_unknown_length_by_a_chunked_append(server: Any, client: DraftClient) -> None:
    data = os.urandom(50_000)
    path = client.path_of((await client.create(data[:10_000], complete=False)).headers["Location"])
    headers = client.headers({"Upload-Offset": "10000", **client.complete(True), "Transfer-Encoding": "chunked"})
    if client.version >= 6:
        headers["Content-Type"] = PARTIAL
    conn = await Connection.open(client.port)
    rest = data[10_000:]
    await conn.send(request_head("PATCH", path, headers) + f"{len(rest):x}\r\n".encode() + rest + b"\r\n0\r\n\r\n")
    answer = await conn.exchange("PATCH")
    conn.close()
    assert answer.status == 201 and answer.headers["Upload-Length"] == str(len(data))
    assert client.is_complete(answer.final)  # type: ignore[arg-type]
    assert sha256(await stored(server, path)) == sha256(data)


async def test_cancellation(client: DraftClient) -> None:
    path = client.path_of((await client.create(b"abc", complete=False)).headers["Location"])
    cancelled = await client.cancel(path)
    assert cancelled.status == 204
    assert (await client.offset(path)).status in (404, 410)
    assert (await client.append(path, 3, b"d", complete=True)).status in (404, 410)


async def test_mismatching_offset(client: DraftClient) -> None:
    path = client.path_of((await client.create(b"0123456789", complete=False)).headers["Location"])
    answer = await client.append(path, 4, b"x", complete=False)
    assert answer.headers["Upload-Offset"] == "10"  # the drafts: the right offset, in the 409 too
    document = check_problem(answer.final, 409, "mismatching-upload-offset", client, since=6)  # type: ignore[arg-type]
    if document:
        assert document["expected-offset"] == 10 and document["provided-offset"] == 4
    assert (await client.offset(path)).headers["Upload-Offset"] == "10"  # nothing moved


async def test_completed_upload(client: DraftClient) -> None:
    path = client.path_of((await client.create(b"0123456789", complete=True)).headers["Location"])
    empty = await client.append(path, 10, b"", complete=False)
    check_problem(empty.final, 400, "completed-upload", client, since=6)  # type: ignore[arg-type]
    assert client.is_complete(empty.final)  # type: ignore[arg-type]
    more = await client.append(path, 10, b"more", complete=True)
    # content after completion: -04/-05 call it a completed upload, -10 on an inconsistent length
    problem = "inconsistent-upload-length" if client.version >= 7 else "completed-upload"
    check_problem(more.final, 400, problem, client, since=6)  # type: ignore[arg-type]
    again = await client.append(path, 10, b"", complete=True)  # the completion repeated: no change
    assert again.status == 201 and again.headers["Upload-Offset"] == "10"


async def test_inconsistent_length(client: DraftClient) -> None:
    creation = await client.create(b"0123456789", complete=True, headers={"Upload-Length": "20"})
    check_problem(creation.final, 400, "inconsistent-upload-length", client, since=7)  # type: ignore[arg-type]
    assert creation.interim == []  # refused before any upload exists: no 104
    created = await client.create(b"01234", complete=False, headers={"Upload-Length": "20"})
    path = client.path_of(created.headers["Location"])
    short = await client.append(path, 5, b"56789", complete=True)  # ends at 10, not 20
    check_problem(short.final, 400, "inconsistent-upload-length", client, since=7)  # type: ignore[arg-type]
    other = await client.append(path, 5, b"5", complete=False, headers={"Upload-Length": "30"})
    check_problem(other.final, 400, "inconsistent-upload-length", client, since=7)  # type: ignore[arg-type]
    assert (await client.offset(path)).headers["Upload-Offset"] == "5"


async def test_options_announces_the_limits(client: DraftClient) -> None:
    answer = await client.send("OPTIONS", "/files/", {})
    assert answer.status == 204
    if client.version >= 6:
        limits = dict(item.split("=") for item in answer.headers["Upload-Limit"].split(", "))
        assert limits["min-size"] == "0" and int(limits["max-size"]) > 0
        assert ("expires" if client.version == 6 else "max-age") in limits  # the embedded default expires uploads
    else:
        assert "Upload-Limit" not in answer.headers
    assert (answer.headers.get("Accept-Patch") == PARTIAL) is (client.version >= 8)


async def test_append_media_type(client: DraftClient) -> None:
    path = client.path_of((await client.create(b"ab", complete=False)).headers["Location"])
    wrong = await client.append(path, 2, b"cd", complete=False, headers={"Content-Type": "application/octet-stream"})
    assert wrong.status == (415 if client.version >= 6 else 201)  # before -04 any media type was fine


async def test_tus_and_draft_uploads_are_one_kind(server: Any, client: DraftClient) -> None:
    """A draft upload is a tus upload: tus HEAD sees it, and /media/{id} knows it."""
    path = client.path_of((await client.create(b"hello", complete=True)).headers["Location"])
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{server.port}"
        async with http.head(base + path, headers={"Tus-Resumable": "1.0.0"}) as response:
            assert response.status == 200 and response.headers["Upload-Offset"] == "5"
        async with http.get(base + "/media/" + path.rsplit("/", 1)[1]) as response:
            assert response.status == 200, await response.text()


async def test_the_setting_turns_the_draft_off(start_server: StartServer) -> None:
    """TUSD_DRAFT_UPLOADS=false: a draft request is a tus request, which lacks Tus-Resumable."""
    server = await start_server(draft_uploads=False)
    answer = await DraftClient(server.port, 8).create(b"hello", complete=True)
    assert answer.status == 412 and answer.interim == []
