"""GET: download a finished upload, with single-range support (as tusd)."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import TusCase, b64, create, patch

DATA = bytes(range(100))


@pytest.fixture
async def finished(client: Any) -> str:
    path = await create(client, len(DATA), headers={"Upload-Metadata": f"filename {b64('a b.bin')}"})
    assert (await patch(client, path, 0, DATA)).status == 204
    return path


async def test_get_without_range_returns_everything(client: Any, finished: str) -> None:
    result = await TusCase(
        "GET",
        finished,
        status=200,
        expect_headers={"Content-Length": "100", "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"},
        absent_headers=["Content-Range"],
    ).run(client)
    assert result.body == DATA
    assert result.headers["Content-Disposition"] == "attachment; filename*=UTF-8''a%20b.bin"


async def test_get_works_without_tus_resumable(client: Any, finished: str) -> None:
    result = await TusCase("GET", finished, tus=False, status=200).run(client)
    assert result.body == DATA


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=10-", 10, 100),
        ("bytes=-5", 95, 100),
        ("bytes=90-500", 90, 100),
        ("bytes=-500", 0, 100),
        ("bytes=99-99", 99, 100),
    ],
)
async def test_get_with_a_range_is_206(client: Any, finished: str, header: str, start: int, end: int) -> None:
    result = await TusCase(
        "GET",
        finished,
        headers={"Range": header},
        status=206,
        expect_headers={"Content-Range": f"bytes {start}-{end - 1}/100", "Content-Length": str(end - start)},
    ).run(client)
    assert result.body == DATA[start:end]


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=5-2", "bytes=-0"])
async def test_unsatisfiable_range_is_416(client: Any, finished: str, header: str) -> None:
    await TusCase(
        "GET", finished, headers={"Range": header}, status=416, expect_headers={"Content-Range": "bytes */100"}
    ).run(client)


async def test_multi_range_falls_back_to_the_whole_file(client: Any, finished: str) -> None:
    result = await TusCase("GET", finished, headers={"Range": "bytes=0-1,5-6"}, status=200).run(client)
    assert result.body == DATA


async def test_get_of_an_unfinished_upload_is_400(client: Any) -> None:
    path = await create(client, 10)
    assert (await patch(client, path, 0, b"01234")).status == 204
    await TusCase("GET", path, status=400).run(client)


async def test_get_of_an_unknown_upload_is_404(client: Any) -> None:
    await TusCase("GET", "/files/nope", status=404).run(client)


async def test_video_type_is_served_inline(client: Any) -> None:
    path = await create(client, 3, headers={"Upload-Metadata": f"filetype {b64('video/mp4')}"})
    assert (await patch(client, path, 0, b"abc")).status == 204
    result = await TusCase("GET", path, status=200, expect_headers={"Content-Type": "video/mp4"}).run(client)
    assert result.headers["Content-Disposition"].startswith("inline")


async def test_html_type_is_never_served_inline(client: Any) -> None:
    path = await create(client, 3, headers={"Upload-Metadata": f"filetype {b64('text/html')}"})
    assert (await patch(client, path, 0, b"<b>")).status == 204
    result = await TusCase("GET", path, status=200).run(client)
    assert result.headers["Content-Disposition"].startswith("attachment")
