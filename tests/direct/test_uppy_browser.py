"""The stock @uppy/aws-s3 plugin (6.3.1, ``companionEndpoint``) in Chromium (Playwright) uploads
straight to the bucket (moto's server over HTTP, which answers the browser's CORS preflights with
the rule ``tusd-py s3 cors`` applies) through tusd-py's signing API on a real ``tusd-py serve``;
the upload then becomes an upload of the catalogue like a tus one (its bytes at GET /files/{id},
its status at /media/{id}). Accounts are on: the page adds its bearer token to the plugin's calls
of /s3/ (the plugin sends no headers of its own); the presigned URLs need none."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.adversarial.server import Server, running
from tests.webapp.browser import CHROMIUM, CHROMIUM_ARGS
from tusd_py.__main__ import main

UPPY = Path(__file__).resolve().parents[1] / "clients" / "uppy_s3"
MiB = 1024 * 1024


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page (its bundle built from tests/clients/uppy_s3 by esbuild), on an origin of its own."""
    if not (UPPY / "node_modules" / "@uppy" / "aws-s3").is_dir():
        pytest.fail(f"{UPPY}/node_modules is missing: `make services` runs npm ci there")
    root = tmp_path_factory.mktemp("uppy-page")
    esbuild = UPPY / "node_modules" / ".bin" / "esbuild"
    subprocess.run(
        [str(esbuild), "page.js", "--bundle", "--format=esm", f"--outfile={root / 'page.js'}", "--log-level=warning"],
        cwd=UPPY,
        check=True,
        timeout=120,
    )
    (root / "index.html").write_text(
        '<!doctype html><title>uppy s3</title><script type="module" src="page.js"></script>'
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:
    name = "uppy-browser"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, bucket: str) -> Iterator[Server]:
    env = {
        "TUSD_STORE": "s3",
        "TUSD_S3_BUCKET": bucket,
        "TUSD_S3_ENDPOINT_URL": moto_endpoint,
        "TUSD_S3_PATH_STYLE": "true",
        "TUSD_S3_MIN_PART_SIZE": str(5 * MiB),
        "TUSD_DIRECT_UPLOADS": "true",
        "TUSD_SWEEP_INTERVAL": "1",  # the single upload is found by the sweep
        "TUSD_AUTH": "local",  # accounts: the page sends its bearer token to /s3/
        "TUSD_JWT_SECRET": os.urandom(32).hex(),
        "TUSD_MASTER_KEY": os.urandom(32).hex(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    with running(tmp_path_factory.mktemp("uppy-server"), env) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM) or shutil.which("node") is None:
        pytest.fail(f"{CHROMIUM} or node is missing: `make services` installs them")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def cors(page: str, bucket: str, moto_endpoint: str) -> None:
    """``tusd-py s3 cors --origin <the page>``, as an operator runs it."""
    env = {"TUSD_STORE": "s3", "TUSD_S3_BUCKET": bucket, "TUSD_S3_ENDPOINT_URL": moto_endpoint}
    saved = {k: os.environ.get(k) for k in (*env, "TUSD_S3_PATH_STYLE")}
    os.environ.update(env, TUSD_S3_PATH_STYLE="true")
    try:
        assert main(["s3", "cors", "--origin", page]) == 0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _call(url: str, *, token: str = "", doc: dict[str, str] | None = None) -> Any:
    headers = {"X-Requested-With": "test", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(doc).encode() if doc is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if doc is not None else "GET")
    return urllib.request.urlopen(request, timeout=30)


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    base, account = f"http://127.0.0.1:{server.port}", {"email": "uppy@example.com", "password": "a long password"}
    _call(f"{base}/auth/register", doc=account).close()
    with _call(f"{base}/auth/login", doc=account) as resp:
        access: str = json.loads(resp.read())["access_token"]
        return access


def _status(base: str, upload_id: str, token: str, until: tuple[str, ...], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _call(f"{base}/media/{upload_id}", token=token) as resp:
                body: dict[str, Any] = json.loads(resp.read())
            if body["state"] in until or time.monotonic() > deadline:
                return body
        except urllib.error.HTTPError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"/media/{upload_id}: {exc.code}") from exc
        time.sleep(0.2)


@pytest.mark.usefixtures("cors")
@pytest.mark.parametrize(("size", "multipart"), [(12 * MiB + 5, True), (300 * 1024, False)], ids=["parts", "single"])
def test_stock_uppy_aws_s3_uploads_through_the_signing_api(
    browser: Any, page: str, server: Server, token: str, size: int, multipart: bool
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context()
    try:
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(page + "/index.html")
        tab.wait_for_function("typeof window.runUpload === 'function'")
        result = tab.evaluate(
            "(args) => window.runUpload(args)", {"endpoint": base, "token": token, "size": size, "multipart": multipart}
        )
    finally:
        context.close()
    assert result["failed"] == [] and len(result["successful"]) == 1, (result, errors)
    if multipart:
        assert sorted(result["parts"]) == [1, 2, 3]  # 5 MiB chunks, straight to the bucket
        upload_url = result["successful"][0]["uploadURL"]  # the server's answer: the tus URL
        upload_id = upload_url.rsplit("/", 1)[1]
    else:  # the plugin's form POST went to the bucket; the key is the server's (prefix + id)
        upload_id = result["successful"][0]["body"]["key"]
    assert _status(base, upload_id, token, ("stored",))["state"] == "stored"  # random bytes: a plain file
    with _call(f"{base}/files/{upload_id}", token=token) as resp:
        assert hashlib.sha256(resp.read()).hexdigest() == result["sha256"]


@pytest.mark.usefixtures("cors")
def test_without_the_token_the_signing_api_refuses_the_plugin(browser: Any, page: str, server: Server) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(page + "/index.html")
        tab.wait_for_function("typeof window.runUpload === 'function'")
        base = f"http://127.0.0.1:{server.port}"
        result = tab.evaluate(
            "(args) => window.runUpload(args)", {"endpoint": base, "token": "", "size": 6 * MiB, "multipart": True}
        )
    finally:
        context.close()
    assert result["successful"] == [] and len(result["failed"]) == 1
    assert "Unauthorized" in result["failed"][0], result  # 401 at POST /s3/multipart: nothing was signed
