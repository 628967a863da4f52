"""The README's first run, as a new user does it: ``tusd-py serve`` with the defaults (local
accounts), the curl example registers, logs in and uploads ``hello`` (no media) with the access
token, and that ends ``stored`` with no warning in the log; the file still downloads, as it was
sent, to its owner."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import aiohttp

from tests.adversarial.server import running

TUS = {"Tus-Resumable": "1.0.0"}


def curl(*args: str) -> str:
    done = subprocess.run(["curl", "-si", "--max-time", "30", *args], capture_output=True, check=True, text=True)
    return done.stdout


def log_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


async def test_the_readme_curl_upload_is_stored_without_a_warning(tmp_path: Path) -> None:
    defaults = {"TUSD_AUTH": "local", "TUSD_LOG_LEVEL": "info", "TUSD_LOG_FORMAT": "json"}  # the suite runs open
    with running(tmp_path, defaults) as server:
        account = '{"email": "me@example.com", "password": "a long passphrase"}'
        json_body = ("-H", "Content-Type: application/json", "-d", account)
        registered = curl(f"{server.url}/auth/register", *json_body)
        assert registered.startswith("HTTP/1.1 201"), registered
        logged_in = curl(f"{server.url}/auth/login", *json_body)
        assert logged_in.startswith("HTTP/1.1 200"), logged_in
        token = json.loads(logged_in.split("\n\n", 1)[1])["access_token"]  # text mode: CRLF read as LF
        bearer = f"Authorization: Bearer {token}"
        created = curl(
            "-X", "POST", f"{server.url}/files/", "-H", bearer, "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: 5"
        )  # fmt: skip
        assert created.startswith("HTTP/1.1 201"), created
        location = next(line.split(":", 1)[1].strip() for line in created.splitlines() if line.startswith("Location:"))
        patched = curl(
            "-X", "PATCH", location, "-H", bearer, "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
            "-H", "Content-Type: application/offset+octet-stream", "--data-binary", "hello",
        )  # fmt: skip
        assert patched.startswith("HTTP/1.1 204"), patched
        upload_id = location.rstrip("/").rsplit("/", 1)[1]
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            deadline = time.monotonic() + 30
            while True:
                async with http.get(f"{server.url}/media/{upload_id}", headers=auth) as resp:
                    body = await resp.json()
                if body["state"] not in ("queued", "processing") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert body["state"] == "stored", body
            assert body["kind"] == "file" and body["reason"].startswith("not a media file")
            events_url = f"{server.url}/media/{upload_id}/events?access_token={token}"  # as EventSource sends it
            async with http.get(events_url) as resp:  # ends on its own
                text = await resp.text()
            assert text.startswith("id: ") and "\nevent: stored\n" in text
            async with http.get(location, headers={**TUS, **auth}) as resp:
                assert resp.status == 200 and await resp.read() == b"hello"
            async with http.get(location, headers=TUS) as resp:
                assert resp.status == 401  # no token, no file
    events = log_lines(server.log)
    assert any(e.get("event") == "job_stored" and e.get("upload_id") == upload_id for e in events), events
    assert [e for e in events if e.get("level") in ("warning", "error", "critical")] == []
    assert "job_failed" not in server.log.read_text()
