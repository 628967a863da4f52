"""The web app in direct mode, in Debian's Chromium: a real ``tusd-py serve`` on the S3 store
(moto over HTTP) with Redis, an arq worker and ``TUSD_DIRECT_UPLOADS`` on serves the page with
``<meta name="tusd-upload" content="s3">``; the page uploads a clip with @uppy/aws-s3 in parts
straight to the bucket (whose CORS rule, applied by ``tusd-py s3 cors``, allows the page's
origin), never through tus, and the clip appears in My videos and reaches ``ready``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from playwright.sync_api import expect

from tests.fixtures.process import ServerProcess
from tests.pipeline.media import Clip, make_clip

from .browser import QUOTA, login, server_sha256, sha256_of, start_server
from .test_browser import item, new_email, pick, sign_up

MiB = 1024 * 1024
PART_SIZE = 5 * MiB  # the smallest S3 allows: the clip (about 6.7 MB) goes in two parts
TUSD_PY = Path(sys.executable).parent / "tusd-py"


@pytest.fixture(scope="module")
def direct_env(moto_endpoint: str, redis_server_url: str) -> dict[str, str]:
    bucket = "web-direct"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return {
        "TUSD_STORE": "s3",
        "TUSD_S3_BUCKET": bucket,
        "TUSD_S3_ENDPOINT_URL": moto_endpoint,
        "TUSD_S3_PATH_STYLE": "true",
        "TUSD_S3_PART_SIZE": str(PART_SIZE),
        "TUSD_S3_MIN_PART_SIZE": str(PART_SIZE),
        "TUSD_DIRECT_UPLOADS": "true",
        "TUSD_REDIS_URL": redis_server_url,
        "TUSD_JWT_SECRET": os.urandom(32).hex(),
        "TUSD_MASTER_KEY": os.urandom(32).hex(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # The worker's processing: one small rendition, fast.
        "TUSD_LADDER_HEIGHTS": "240",
        "TUSD_X264_PRESET": "ultrafast",
        "TUSD_SEGMENT_SECONDS": "1",
        "TUSD_THUMBNAIL_COUNT": "1",
    }


@pytest.fixture(scope="module")
def direct_server(tmp_path_factory: pytest.TempPathFactory, direct_env: dict[str, str]) -> Iterator[ServerProcess]:
    """The server, the bucket's CORS rule for the server's own origin (the page is served there),
    and one arq worker with the same settings and data directory (its SQL database)."""
    tmp = tmp_path_factory.mktemp("web-direct")
    server = start_server(tmp, direct_env)
    worker = None
    try:
        env = {**os.environ, **direct_env, "TUSD_DATA_DIR": str(tmp / "data"), "TUSD_LOG_LEVEL": "warning"}
        cors = subprocess.run(
            [str(TUSD_PY), "s3", "cors", "--origin", server.url], env=env, capture_output=True, timeout=60, cwd=tmp
        )
        assert cors.returncode == 0, cors.stderr.decode()
        with (tmp / "worker.log").open("ab") as out:
            worker = subprocess.Popen([str(TUSD_PY), "worker"], env=env, stdout=out, stderr=out, cwd=tmp)
        yield server
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        server.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lossless clip of about 6.7 MB: more than one part, less than the quota of the server."""
    made = Clip("direct.mp4", 640, 360, seconds=8.0, acodec=None, options=(("preset", "ultrafast"), ("crf", "0")))
    path = Path(make_clip(str(tmp_path_factory.mktemp("web-direct-clip") / made.filename), made))
    assert PART_SIZE < path.stat().st_size < 2 * PART_SIZE
    return path


class Requests:
    """What the page sends: to the signing API, to the bucket, to tus."""

    def __init__(self, page: Any, base: str, bucket_url: str) -> None:
        self.signing: list[tuple[str, str, bool]] = []  # (method, path, with a bearer token)
        self.bucket: list[tuple[str, str, bool]] = []  # (method, URL, with an Authorization header)
        self.tus: list[str] = []
        self.base, self.bucket_url = base, bucket_url
        self.completed: dict[str, Any] = {}
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        url = request.url
        authorized = "authorization" in request.headers
        if url.startswith(f"{self.base}/s3/"):
            bearer = request.headers.get("authorization", "").startswith("Bearer ")
            self.signing.append((request.method, urlsplit(url).path, bearer))
        elif url.startswith(self.bucket_url):
            self.bucket.append((request.method, url, authorized))
        elif url.startswith(f"{self.base}/files") and request.method in ("POST", "PATCH"):
            self.tus.append(f"{request.method} {url}")

    def _response(self, response: Any) -> None:
        if response.request.method == "POST" and re.search(r"/s3/multipart/[^/]+/complete", response.url):
            self.completed = response.json()

    def part_numbers(self) -> list[int]:
        return sorted(
            int(parse_qs(urlsplit(url).query)["partNumber"][0])
            for method, url, _ in self.bucket
            if method == "PUT" and "partNumber=" in url
        )


def test_the_page_uploads_direct_to_the_bucket_in_parts_and_the_clip_becomes_ready(
    context: Any, direct_server: ServerProcess, direct_env: dict[str, str], clip: Path
) -> None:
    base = direct_server.url
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests = Requests(page, base, direct_env["TUSD_S3_ENDPOINT_URL"])
    email = new_email("direct")
    sign_up(page, base, email)
    expect(page.locator('meta[name="tusd-upload"]')).to_have_attribute("content", "s3")
    expect(page.locator("#upload-limits")).to_contain_text("straight to storage")
    # The parts are held on their way to the bucket for a moment, to see the upload in progress.
    held: list[Any] = []
    holding = [True]

    def hold(route: Any) -> None:
        if holding[0] and route.request.method == "PUT":
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(re.escape(direct_env["TUSD_S3_ENDPOINT_URL"]) + "/.*"), hold)
    pick(page, clip)
    deadline = time.monotonic() + 30
    while not held:
        assert time.monotonic() < deadline, (requests.signing, errors)
        page.wait_for_timeout(50)
    expect(page.locator(".uppy-StatusBar")).to_contain_text(re.compile(r"Uploading"))
    # No pause in direct mode (@uppy/aws-s3 6.3.1 would resume with a new multipart upload that
    # lacks the parts sent before); cancelling is offered.
    expect(page.get_by_role("button", name=re.compile("^Pause"))).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel").first).to_be_visible()
    holding[0] = False  # the parts held go on, and the next ones pass at once
    for route in held:
        route.continue_()
    deadline = time.monotonic() + 60
    while not requests.completed:  # the signing API answered the completion: the id of the upload
        assert time.monotonic() < deadline, (requests.signing, requests.bucket, errors)
        page.wait_for_timeout(100)
    upload_id = requests.completed["uploadId"]
    assert requests.completed["location"].endswith(f"/files/{upload_id}")

    # The bytes went to the bucket in two parts, on presigned URLs (no token sent there); the
    # signing API was called with the page's token; tus was not used.
    assert requests.part_numbers() == [1, 2], requests.bucket
    assert not any(authorized for _, _, authorized in requests.bucket), requests.bucket
    assert ("POST", "/s3/multipart", True) in requests.signing
    assert all(bearer for _, _, bearer in requests.signing), requests.signing
    assert requests.tus == []

    row = item(page, upload_id)
    expect(row).to_have_count(1, timeout=30_000)
    expect(row.locator(".name")).to_have_text("direct.mp4")
    expect(row.locator(".state")).to_have_text("ready", timeout=180_000)
    expect(row.locator(".facts")).to_contain_text("0:08")
    expect(row.locator(".poster img")).to_have_attribute("src", re.compile(r"/media/.+/files/.+sig="))
    assert server_sha256(base, login(base, email), upload_id) == sha256_of(clip)  # the same bytes at GET
    assert errors == []


def test_a_refused_creation_shows_the_servers_reason_and_sends_nothing_to_the_bucket(
    context: Any, direct_server: ServerProcess, direct_env: dict[str, str], tmp_path: Path
) -> None:
    """Beyond the quota the signing API refuses the creation (413 ERR_QUOTA_EXCEEDED); the page
    shows the server's reason, which @uppy/aws-s3 itself reports only as a status text."""
    base = direct_server.url
    page = context.new_page()
    requests = Requests(page, base, direct_env["TUSD_S3_ENDPOINT_URL"])
    sign_up(page, base, new_email("direct-quota"))
    over_quota = tmp_path / "over-quota.mp4"
    over_quota.write_bytes(b"\0" * (QUOTA + 1))  # within TUSD_MAX_SIZE, beyond the quota
    pick(page, over_quota)
    expect(page.get_by_text("storage quota exceeded", exact=False).first).to_be_visible()
    assert [(method, path) for method, path, _ in requests.signing] == [("POST", "/s3/multipart")]
    assert requests.bucket == [] and requests.tus == []


def test_a_failed_part_is_retried_in_the_same_upload_with_the_parts_s3_holds(
    context: Any, direct_server: ServerProcess, direct_env: dict[str, str], clip: Path
) -> None:
    """The second part's PUTs fail (the connection drops) until the plugin's own retries give up;
    `Retry` then resumes the same multipart upload: the plugin lists the parts S3 holds (GET
    /s3/multipart/{id}) and sends only part 2 again, and the completed upload holds the file."""
    base = direct_server.url
    page = context.new_page()
    requests = Requests(page, base, direct_env["TUSD_S3_ENDPOINT_URL"])
    dropped: list[str] = []
    dropping = [True]

    def drop_part_two(route: Any) -> None:
        if dropping[0] and route.request.method == "PUT" and "partNumber=2&" in route.request.url + "&":
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(re.escape(direct_env["TUSD_S3_ENDPOINT_URL"]) + "/.*"), drop_part_two)
    email = new_email("direct-retry")
    sign_up(page, base, email)
    pick(page, clip)
    retry = page.locator(".uppy-StatusBar").get_by_role("button", name="Retry")
    expect(retry).to_be_visible(timeout=60_000)  # the upload failed at part 2
    assert dropped and requests.part_numbers() == [1] + [2] * len(dropped) and not requests.completed
    dropping[0] = False  # the network is back
    retry.click()
    deadline = time.monotonic() + 60
    while not requests.completed:
        assert time.monotonic() < deadline, (requests.signing, requests.bucket)
        page.wait_for_timeout(100)
    upload_id = requests.completed["uploadId"]
    assert requests.part_numbers() == [1] + [2] * (len(dropped) + 1)  # part 1 once: S3 held it
    assert ("GET", f"/s3/multipart/{upload_id}", True) in requests.signing  # the list of parts
    assert [path for method, path, _ in requests.signing if method == "POST"].count("/s3/multipart") == 1
    expect(item(page, upload_id)).to_have_count(1, timeout=30_000)
    assert server_sha256(base, login(base, email), upload_id) == sha256_of(clip)
