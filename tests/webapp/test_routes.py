"""The web application's routes: GET / (the page) and GET /static/{name} (its bundle)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.adversarial.server import exchange, request, running
from tests.fixtures.app import MakeClient
from tusd_py.settings import Settings
from tusd_py.webapp.routes import STATIC, render_page


async def test_page_names_the_endpoint_and_auth_mode(make_client: MakeClient) -> None:
    client = await make_client(auth="local")
    response = await client.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    page = await response.text()
    assert '<meta name="tusd-endpoint" content="/files/">' in page
    assert '<meta name="tusd-auth" content="local">' in page
    assert '<meta name="tusd-upload" content="tus">' in page  # no direct uploads: the page uses @uppy/tus
    assert '<script type="module" src="/static/app.js"></script>' in page
    assert '<label for="email">Email</label>' in page and '<label for="password">Password</label>' in page


def test_page_names_the_direct_mode_and_its_part_size(tmp_path: Path) -> None:
    """With direct uploads on, the page uploads with @uppy/aws-s3 in parts of the store's part
    size, never below its smallest part (the server bounds the part numbers by it)."""
    s3 = {"data_dir": str(tmp_path), "store": "s3", "s3_bucket": "b", "direct_uploads": True}
    page = render_page(Settings.from_flat(**s3, s3_part_size=6 * 1024 * 1024)).decode()
    assert '<meta name="tusd-upload" content="s3">' in page
    assert f'<meta name="tusd-part-size" content="{6 * 1024 * 1024}">' in page
    page = render_page(Settings.from_flat(**s3, s3_min_part_size=16 * 1024 * 1024)).decode()
    assert f'<meta name="tusd-part-size" content="{16 * 1024 * 1024}">' in page
    page = render_page(Settings.from_flat(data_dir=str(tmp_path), store="s3", s3_bucket="b")).decode()
    assert '<meta name="tusd-upload" content="tus">' in page


async def test_bundle_is_served_with_validators(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/static/app.js")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cache-Control"] == "no-cache"
    body = await response.read()
    assert body == (STATIC / "app.js").read_bytes()
    again = await client.get("/static/app.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
    css = await client.get("/static/app.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    assert ".uppy-Dashboard" in await css.text()


async def test_versions_of_the_bundle_are_recorded(make_client: MakeClient) -> None:
    client = await make_client()
    text = await (await client.get("/static/VERSIONS.txt")).text()
    for package in ("@uppy/core 6.", "@uppy/dashboard 6.", "@uppy/tus 6.", "@uppy/aws-s3 6.", "hls.js 1."):
        assert package in text


async def test_names_outside_the_bundle_are_404(make_client: MakeClient) -> None:
    client = await make_client()
    for path in ("/static/nope.js", "/static/..%2Froutes.py", "/static/__init__.py", "/static/", "/static/index.html"):
        assert (await client.get(path)).status == 404, path


async def test_base_path_slash_keeps_the_page_and_the_tus_collection(make_client: MakeClient) -> None:
    client = await make_client(base_path="/")
    page = await client.get("/")
    assert page.status == 200 and "tusd-endpoint" in await page.text()
    assert (await client.get("/static/app.js")).status == 200
    created = await client.post("/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3"})
    assert created.status == 201
    location = created.headers["Location"]
    assert re.fullmatch(r"http://[^/]+/[A-Za-z0-9_-]+", location)
    options = await client.options("/")
    assert options.status == 204 and options.headers["Tus-Version"] == "1.0.0"


def test_hostile_requests_to_the_page_and_static(tmp_path: Path) -> None:
    with running(tmp_path, {"TUSD_AUTH": "none"}) as server:
        port = server.port
        cases = {
            b"": [],  # nothing sent: nothing answered
            b"GET / HTTP/1.1\r\nHost: x\r\n": [],  # truncated head: the server waits, then gives up
            b"GET /static/" + b"a" * 5000 + b".js HTTP/1.1\r\nHost: x\r\n\r\n": [404],  # oversized name
            b"GET /static/app.js HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n": [400],  # duplicated Host: refused
            b"GET /static/../keys.py HTTP/1.1\r\nHost: x\r\n\r\n": [404],  # traversal, unencoded
            b"GET /static/%00.js HTTP/1.1\r\nHost: x\r\n\r\n": [404],  # a NUL in the name
            b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n": [400],  # malformed request line
            b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=zz\r\n\r\n": [200],  # junk Range on the page: ignored
            b"POST /static/app.js HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc": [405],
        }
        for raw, expected in cases.items():
            assert request(port, raw, timeout=2.0) == expected, raw[:80]
        ranged = exchange(port, b"GET /static/app.js HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999-\r\n\r\n")
        assert ranged.startswith(b"HTTP/1.1 416 "), ranged[:80]
        head = exchange(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"<html" not in head
        assert request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == [200]  # still answers
        assert server.alive()
