"""The web app in Debian's Chromium against a real server: sign-up, upload through the Dashboard's
file input, processing seen live, playback with hls.js, resumption after a network drop and after
a reload (asserted on the PATCH Upload-Offset values), isolation between users, a phone's width."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.fixtures.process import ServerProcess

from .browser import (
    MAX_SIZE,
    PASSWORD,
    QUOTA,
    ThrottleProxy,
    login,
    screenshot,
    server_sha256,
    sha256_of,
    start_server,
)

_users = itertools.count()
ID = re.compile(r"/files/([A-Za-z0-9_-]+)$")


def new_email(tag: str) -> str:
    """A fresh address (the module's server starts with an empty database)."""
    return f"{tag}{next(_users)}@example.test"


def sign_up(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="My videos")).to_be_visible()
    expect(page.locator("#who")).to_have_text(email)


def pick(page: Any, path: Path) -> None:
    """Choose a file through the Dashboard's <input type=file>, as the file picker would."""
    page.locator("#uploader input[type=file]").first.set_input_files(str(path))


class Traffic:
    """The tus requests the page sends and what the server answered to them."""

    def __init__(self, page: Any) -> None:
        self.events: list[tuple[str, str, int | None]] = []  # (kind, upload id, offset)
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        match = ID.search(request.url.split("?")[0])
        if request.method == "PATCH" and match:
            self.events.append(("PATCH", match.group(1), int(request.headers["upload-offset"])))
        elif request.method == "POST" and request.url.rstrip("/").endswith("/files"):
            self.events.append(("POST", "", None))

    def _response(self, response: Any) -> None:
        match = ID.search(response.url.split("?")[0])
        if response.request.method == "HEAD" and match and response.status == 200:
            self.events.append(("HEAD", match.group(1), int(response.headers["upload-offset"])))

    def patches(self) -> list[int]:
        return [offset for kind, _, offset in self.events if kind == "PATCH" and offset is not None]

    def upload_id(self) -> str:
        return next(uid for kind, uid, _ in self.events if kind == "PATCH")


def wait_for_bytes(page: Any, proxy: ThrottleProxy, at_least: int) -> None:
    """Wait until the proxy has passed ``at_least`` more bytes to the server. Counted at the proxy:
    a HEAD from the test would itself stop the PATCH in flight (a newer request for the upload)."""
    start, deadline = proxy.forwarded, time.monotonic() + 30
    while proxy.forwarded - start < at_least:
        assert time.monotonic() < deadline, f"the upload never passed {at_least} bytes"
        page.wait_for_timeout(50)


def first_patch(page: Any, traffic: Traffic) -> str:
    """The id of the upload once its first PATCH is on its way."""
    deadline = time.monotonic() + 20
    while not traffic.patches():
        assert time.monotonic() < deadline, traffic.events
        page.wait_for_timeout(50)
    return traffic.upload_id()


def item(page: Any, upload_id: str) -> Any:
    return page.locator(f'li.video[data-id="{upload_id}"]')


def test_sign_up_upload_see_it_ready_and_play_it(
    context: Any, web_server: ServerProcess, clips: dict[str, Path], artifacts: Path
) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{web_server.url}/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    screenshot(page, artifacts, "sign-in")
    email = new_email("viewer")
    sign_up(page, web_server.url, email)
    traffic = Traffic(page)
    pick(page, clips["play"])
    upload_id = first_patch(page, traffic)
    expect(item(page, upload_id)).to_have_count(1, timeout=30_000)
    state = item(page, upload_id).locator(".state")
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the state text as the SSE stream changes it: no reload
        text = state.text_content() or ""
        seen.add(text)
        if text == "ready":
            break
        page.wait_for_timeout(100)
    assert "ready" in seen, seen
    assert all(re.fullmatch(r"queued|processing \d{1,3}%|ready", text) for text in seen), seen
    row = item(page, upload_id)
    expect(row.locator(".name")).to_have_text("holiday.mp4")
    expect(row.locator(".facts")).to_contain_text("0:04")
    expect(row.locator(".poster img")).to_have_attribute("src", re.compile(r"/media/.+/files/.+sig="))
    screenshot(page, artifacts, "videos")

    row.locator(".name").click()
    expect(page).to_have_url(re.compile(rf"#/watch/{upload_id}$"))
    video = page.locator("#video")
    expect(video).to_have_attribute("poster", re.compile(r"/files/.+sig="))  # the poster before play
    quality = page.get_by_label("Quality")
    expect(quality.locator("option")).to_have_count(3)  # Auto, 360p, 240p from the HLS levels
    page.evaluate(
        """() => { window.videoErrors = []; const v = document.getElementById('video');
        v.addEventListener('error', () => window.videoErrors.push(v.error && v.error.code)) }"""
    )
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play() }")
    page.wait_for_function("() => document.getElementById('video').currentTime > 1", timeout=30_000)
    assert page.evaluate("() => window.videoErrors") == []
    quality.select_option(quality.locator("option", has_text="240p").get_attribute("value"))  # a level by hand
    page.wait_for_function("() => document.getElementById('video').currentTime > 2", timeout=30_000)
    screenshot(page, artifacts, "watch")
    assert errors == []

    page.reload()  # the refresh cookie signs in again; the access token was only in memory
    expect(page.locator("#who")).to_have_text(email)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()  # logged out stays out
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=email)).to_have_count(0)
    expect(page.locator("#who")).to_have_text(email)


def test_network_drop_mid_upload_resumes_from_the_servers_offset(
    context: Any, web_server: ServerProcess, throttle: ThrottleProxy, clips: dict[str, Path]
) -> None:
    page = context.new_page()
    email = new_email("offline")
    sign_up(page, throttle.url, email)
    traffic = Traffic(page)
    size = clips["large"].stat().st_size
    throttle.rate = 1_000_000
    pick(page, clips["large"])
    upload_id = first_patch(page, traffic)
    wait_for_bytes(page, throttle, size // 5)
    status_bar = page.locator(".uppy-StatusBar")
    expect(status_bar).to_contain_text(re.compile(r"Uploading: \d+%"))  # progress
    expect(status_bar).to_contain_text(re.compile(r"[\d.]+ MB of [\d.]+ MB"))
    expect(status_bar).to_contain_text(re.compile(r"\d+ ?s left"))  # time left
    expect(page.locator("#upload-speed")).to_have_text(re.compile(r"Uploading at [\d.]+ (KB|MB)/s, .+ left"))
    context.set_offline(True)
    throttle.drop()  # the connection dies with the network
    page.wait_for_timeout(2000)
    context.set_offline(False)
    throttle.rate = None
    expect(item(page, upload_id)).to_have_count(1, timeout=60_000)  # finished: listed
    offsets = traffic.patches()
    assert offsets[0] == 0 and len(offsets) >= 2, offsets
    assert all(later > 0 for later in offsets[1:]), offsets  # never from zero again
    assert [kind for kind, _, _ in traffic.events].count("POST") == 1  # the same upload, not a new one
    assert server_sha256(web_server.url, login(web_server.url, email), upload_id) == sha256_of(clips["large"])


def test_reload_mid_upload_resumes_from_the_servers_offset(
    context: Any, web_server: ServerProcess, throttle: ThrottleProxy, clips: dict[str, Path]
) -> None:
    page = context.new_page()
    email = new_email("reload")
    sign_up(page, throttle.url, email)
    before = Traffic(page)
    size = clips["large"].stat().st_size
    throttle.rate = 1_000_000
    pick(page, clips["large"])
    upload_id = first_patch(page, before)
    wait_for_bytes(page, throttle, size // 4)
    # The old page's bytes already in the socket buffers still trickle in after the reload; the
    # new page's HEAD is the newer request that stops that PATCH on the server (its bytes kept).
    page.reload()
    after = Traffic(page)  # the reloaded page's requests
    expect(page.locator("#who")).to_have_text(email)
    pick(page, clips["large"])  # the same file picked again
    first_patch(page, after)
    throttle.rate = None
    expect(item(page, upload_id)).to_have_count(1, timeout=60_000)
    heads = [offset for kind, uid, offset in after.events if kind == "HEAD" and uid == upload_id]
    patches = [(uid, offset) for kind, uid, offset in after.events if kind == "PATCH"]
    assert heads and heads[0] is not None and size // 4 <= heads[0] < size, after.events
    assert patches[0] == (upload_id, heads[0]), after.events  # from the server's offset, not from zero
    assert not [kind for kind, _, _ in after.events if kind == "POST"]  # no new upload
    assert server_sha256(web_server.url, login(web_server.url, email), upload_id) == sha256_of(clips["large"])


def test_a_second_user_sees_none_of_the_first_users_media(
    chromium: Any, web_server: ServerProcess, clips: dict[str, Path]
) -> None:
    first, second = chromium.new_context(), chromium.new_context()
    try:
        owner = first.new_page()
        sign_up(owner, web_server.url, new_email("owner"))
        traffic = Traffic(owner)
        owner.locator("#uploader input[type=file]").first.set_input_files([clips["play"], clips["short"]])
        expect(owner.locator("li.video")).to_have_count(2, timeout=30_000)
        ids = {uid for kind, uid, _ in traffic.events if kind == "PATCH"}
        assert len(ids) == 2, traffic.events
        assert sorted(owner.locator("li.video .name").all_text_contents()) == ["holiday.mp4", "short.mp4"]

        other = second.new_page()
        other_email = new_email("other")
        sign_up(other, web_server.url, other_email)
        expect(other.locator("#videos-empty")).to_be_visible()
        expect(other.locator("li.video")).to_have_count(0)
        token = login(web_server.url, other_email)
        for upload_id in sorted(ids):
            other.goto(f"{web_server.url}/#/watch/{upload_id}")
            expect(other.locator("#watch-message")).to_have_text("There is no such video.")
            expect(other.locator("#video")).not_to_have_attribute("poster", re.compile("."))
            for path in (f"/media/{upload_id}", f"/media/{upload_id}/events", f"/files/{upload_id}"):
                answer = httpx.get(f"{web_server.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
                assert answer.status_code == 404, (path, answer.status_code)
        listed = httpx.get(f"{web_server.url}/media", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert listed.status_code == 200 and listed.json()["items"] == []
    finally:
        first.close()
        second.close()


def test_phone_width_every_control_reachable_no_horizontal_overflow(
    chromium: Any, web_server: ServerProcess, clips: dict[str, Path], artifacts: Path
) -> None:
    phone = chromium.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        page.goto(f"{web_server.url}/")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        screenshot(page, artifacts, "sign-in-phone")
        sign_up(page, web_server.url, new_email("phone"))
        reached = tab_through(page)
        for name in ("Skip to content", "tusd-py", "Log out", "browse files"):
            assert any(name in label for label in reached), (name, reached)
        traffic = Traffic(page)
        pick(page, clips["play"])
        upload_id = first_patch(page, traffic)
        expect(item(page, upload_id).locator(".state")).to_have_text("ready", timeout=120_000)
        page.wait_for_timeout(300)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        reached = tab_through(page)
        for name in ("Log out", "Add more files", "holiday.mp4", "Delete holiday.mp4"):
            assert any(name in label for label in reached), (name, reached)
        screenshot(page, artifacts, "videos-phone")
        item(page, upload_id).locator(".name").click()
        expect(page.get_by_label("Quality")).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        reached = tab_through(page)
        for name in ("My videos", "Quality"):
            assert any(name in label for label in reached), (name, reached)
        page.locator(".skip").focus()
        page.keyboard.press("Enter")  # skips to the content, and stays on this page
        expect(page.locator("#main")).to_be_focused()
        expect(page).to_have_url(re.compile(rf"#/watch/{upload_id}$"))
        screenshot(page, artifacts, "watch-phone")

        page.goto(f"{web_server.url}/#/")
        delete = item(page, upload_id).get_by_role("button", name="Delete holiday.mp4")
        delete.focus()
        page.keyboard.press("Enter")  # by keyboard: the confirmation opens with Cancel focused
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(item(page, upload_id)).to_have_count(1)  # cancelled: kept
        delete.click()
        dialog.get_by_role("button", name="Delete").click()
        expect(item(page, upload_id)).to_have_count(0)
        page.reload()
        expect(page.locator("#videos-empty")).to_be_visible()
    finally:
        phone.close()


def tab_through(page: Any, limit: int = 80) -> list[str]:
    """The accessible names of what Tab reaches, from the skip link (the first stop) round to it
    again; none of them may stick out of the viewport's width."""
    page.evaluate("() => { window.scrollTo(0, 0); document.querySelector('.skip').focus() }")
    reached = ["Skip to content"]
    for _ in range(limit):
        page.keyboard.press("Tab")
        label = page.evaluate(
            """() => { const e = document.activeElement; if (!e || e === document.body) return '';
            const r = e.getBoundingClientRect();
            if (r.right > document.documentElement.clientWidth + 1) return 'OVERFLOW ' + e.outerHTML.slice(0, 80);
            return e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.textContent.trim() || e.tagName }"""
        )
        if label == "Skip to content":
            break
        reached.append(label)
    else:
        raise AssertionError(f"Tab never came back to the skip link: {reached}")
    assert not [label for label in reached if label.startswith("OVERFLOW")], reached
    return reached


def test_files_the_server_would_refuse_are_refused_with_its_reason(
    context: Any, web_server: ServerProcess, tmp_path: Path
) -> None:
    page = context.new_page()
    sign_up(page, web_server.url, new_email("refused"))
    traffic = Traffic(page)
    too_large = tmp_path / "too-large.mp4"
    too_large.write_bytes(b"\0" * (MAX_SIZE + 1))
    pick(page, too_large)  # above Tus-Max-Size (OPTIONS): refused by the page, nothing sent
    refusal = re.compile(r"too-large.mp4 is larger than the server accepts \(\d+ MB at most\)")
    expect(page.get_by_text(refusal).first).to_be_visible()
    not_media = tmp_path / "notes.txt"
    not_media.write_text("not a video")
    pick(page, not_media)
    expect(page.get_by_text("Only video and audio files are accepted", exact=False).first).to_be_visible()
    assert [kind for kind, _, _ in traffic.events if kind in ("POST", "PATCH")] == []
    over_quota = tmp_path / "over-quota.mp4"
    over_quota.write_bytes(b"\0" * (QUOTA + 1))
    pick(page, over_quota)  # within the size limit, beyond the quota: the server's reason, no byte sent
    expect(page.get_by_text("storage quota exceeded", exact=False).first).to_be_visible()
    assert [kind for kind, _, _ in traffic.events if kind in ("POST", "PATCH")] == ["POST"]


def test_an_expired_playback_url_is_replaced_and_playback_goes_on(
    context: Any, web_server: ServerProcess, clips: dict[str, Path]
) -> None:
    page = context.new_page()
    sign_up(page, web_server.url, new_email("expiry"))
    traffic = Traffic(page)
    pick(page, clips["play"])
    upload_id = first_patch(page, traffic)
    expect(item(page, upload_id).locator(".state")).to_have_text("ready", timeout=120_000)
    masters: list[str] = []
    page.on("request", lambda r: "/hls/master.m3u8" in r.url and masters.append(r.url))
    segments: list[str] = []

    def expire_once(route: Any) -> None:
        """The third segment is answered as an expired URL is (403): mid-play, after the first two."""
        segments.append(route.request.url)
        if len(segments) == 3:
            route.fulfill(status=403, body="ERR_BAD_SIGNATURE: the signature has expired\n")
        else:
            route.continue_()

    page.route(re.compile(r"/media/[^/]+/hls/.+\.ts\?"), expire_once)
    item(page, upload_id).locator(".name").click()
    expect(page.get_by_label("Quality").locator("option")).to_have_count(3)  # the master playlist is parsed
    page.evaluate(
        """() => { window.messages = []; const m = document.getElementById('watch-message');
        new MutationObserver(() => window.messages.push(m.textContent)).observe(m, {childList: true, subtree: true,
        characterData: true}) }"""
    )
    # play() may be cut short by the renewed source's load: the page starts playing again by itself
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}) }")
    page.wait_for_function("() => document.getElementById('video').currentTime > 3", timeout=30_000)
    assert "The playback link has expired; a fresh one is loaded." in page.evaluate("() => window.messages")
    expect(page.locator("#watch-message")).to_have_text("")
    # a fresh status, its master playlist loaded again (the signer rounds expiries, so the URL may be the same)
    assert len(segments) > 3 and len(masters) == 2, (segments, masters)


def test_pause_and_resume_continue_from_the_servers_offset(
    context: Any, web_server: ServerProcess, throttle: ThrottleProxy, clips: dict[str, Path]
) -> None:
    page = context.new_page()
    email = new_email("pause")
    sign_up(page, throttle.url, email)
    traffic = Traffic(page)
    size = clips["large"].stat().st_size
    throttle.rate = 1_000_000
    pick(page, clips["large"])
    upload_id = first_patch(page, traffic)
    wait_for_bytes(page, throttle, size // 5)
    page.get_by_role("button", name="Pause upload").first.click()
    throttle.rate = 100_000  # what the socket buffers still hold trickles in, far from the end
    expect(page.get_by_role("button", name="Resume upload").first).to_be_visible()
    watcher = context.new_page()  # the same user, in another tab: the video is not ready
    watcher.goto(f"{throttle.url}/#/watch/{upload_id}")
    expect(watcher.locator("#watch-message")).to_have_text(
        re.compile(r"This video is not ready yet: uploading \d{1,2}%\. It starts here by itself once it is ready\.")
    )
    watcher.close()
    throttle.rate = 1_000_000
    # The paused request's bytes already in the socket buffers still trickle in; resuming sends a
    # HEAD, the newer request that stops that PATCH on the server, then PATCHes from its offset.
    page.get_by_role("button", name="Resume upload").first.click()
    deadline = time.monotonic() + 20
    while len(traffic.patches()) < 2:
        assert time.monotonic() < deadline, traffic.events
        page.wait_for_timeout(50)
    throttle.rate = None
    expect(item(page, upload_id)).to_have_count(1, timeout=60_000)
    heads = [offset for kind, uid, offset in traffic.events if kind == "HEAD" and uid == upload_id]
    patches = traffic.patches()
    assert patches[0] == 0 and heads and heads[0] is not None and heads[0] > 0, traffic.events
    assert patches[1] == heads[0], traffic.events  # resumed where the server stood, not from zero
    assert [kind for kind, _, _ in traffic.events].count("POST") == 1
    assert server_sha256(web_server.url, login(web_server.url, email), upload_id) == sha256_of(clips["large"])


def test_another_origin_uploads_with_a_bearer_token(context: Any, web_server: ServerProcess) -> None:
    """What docs/web.md tells an app that embeds the widget: CORS (here the default '*') and the
    token as a header, no cookie. The app's page is on http://localhost:<port>, another origin
    than http://127.0.0.1:<port>; the browser preflights each request."""
    email = new_email("embedder")
    assert httpx.post(f"{web_server.url}/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    token = login(web_server.url, email)
    page = context.new_page()
    page.goto(f"http://localhost:{web_server.port}/static/VERSIONS.txt")  # any document of that origin
    result = page.evaluate(
        """async ([server, token]) => {
          const auth = { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0' }
          const created = await fetch(`${server}/files/`, { method: 'POST', headers: { ...auth,
            'Upload-Length': '5', 'Upload-Metadata': 'filename ' + btoa('embedded.txt') } })
          const location = created.headers.get('Location')
          const patched = await fetch(location, { method: 'PATCH', headers: { ...auth,
            'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: 'hello' })
          const id = location.split('/').pop()
          const status = await fetch(`${server}/media/${id}`, { headers: auth })
          const anonymous = await fetch(`${server}/media/${id}`)
          return { created: created.status, patched: patched.status, offset: patched.headers.get('Upload-Offset'),
            status: status.status, body: await status.json(), anonymous: anonymous.status }
        }""",
        [web_server.url, token],
    )
    assert result["created"] == 201 and result["patched"] == 204 and result["offset"] == "5", result
    assert result["status"] == 200 and result["body"]["upload_length"] == 5, result
    assert result["anonymous"] == 401, result


def test_broken_media_shows_failed_with_the_reason(
    context: Any, web_server: ServerProcess, clips: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    data = clips["play"].read_bytes()
    broken.write_bytes(data[: len(data) * 6 // 10])  # cut short: no index at the end
    page = context.new_page()
    sign_up(page, web_server.url, new_email("broken"))
    traffic = Traffic(page)
    pick(page, broken)
    upload_id = first_patch(page, traffic)
    state = item(page, upload_id).locator(".state")
    expect(state).to_have_text(re.compile(r"^failed: truncated or corrupt media"), timeout=60_000)
    item(page, upload_id).locator(".name").click()
    expect(page.locator("#watch-message")).to_have_text(
        re.compile(r"^This video cannot be played: failed: truncated or corrupt media")
    )
    page.reload()  # the list's item has no reason of its own: the status gives it
    page.goto(f"{web_server.url}/#/")
    expect(item(page, upload_id).locator(".state")).to_have_text(re.compile(r"^failed: truncated or corrupt media"))


def test_an_expired_access_token_is_refreshed_without_the_user_noticing(chromium: Any, tmp_path: Path) -> None:
    server = start_server(tmp_path, {"TUSD_ACCESS_TOKEN_TTL": "10"})
    context = chromium.new_context()
    try:
        page = context.new_page()
        sign_up(page, server.url, new_email("refresh"))
        refreshes: list[int] = []
        page.on("response", lambda r: r.url.endswith("/auth/refresh") and refreshes.append(r.status))
        page.wait_for_timeout(11_000)  # the access token in memory has expired
        page.goto(f"{server.url}/#/watch/no-such-video")  # an API call with it
        expect(page.locator("#watch-message")).to_have_text("There is no such video.")  # 404, not 401
        expect(page.locator("#who")).to_be_visible()
        assert refreshes and set(refreshes) == {200}, refreshes
        page.goto(f"{server.url}/#/")
        expect(page.locator("#videos-empty")).to_be_visible()
        expect(page.get_by_role("button", name="Log in")).to_be_hidden()
    finally:
        context.close()
        server.stop()


def test_sign_in_errors_show_the_servers_reason(context: Any, web_server: ServerProcess) -> None:
    page = context.new_page()
    email = new_email("errors")
    sign_up(page, web_server.url, email)
    page.get_by_role("button", name="Log out").click()
    alert = page.locator("#auth-error")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(alert).to_have_text("wrong email or password")  # the server's one message for both
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()  # the same address again: taken
    expect(alert).to_have_text("an account with this email exists already")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(alert).to_have_text("Choose a password of at least 10 characters.")
    expect(page.get_by_label("Password")).to_be_focused()
