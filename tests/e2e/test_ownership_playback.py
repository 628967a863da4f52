"""Ownership end to end, on a real ``tusd-py serve`` with accounts on and the embedded pipeline: a
clip uploaded with Alice's token is transcoded; its signed URLs name her as their audience and
play with no token at all (they are capabilities); Bob gets 404 on its status, events and list,
and a URL re-addressed to him fails its signature; when Alice deletes her account the upload,
its outputs and its URLs are gone, and Bob's upload is not."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from tests.adversarial.server import running
from tests.e2e.encrypted_support import decode_hls, make_marked_clip, tus_upload, wait_ready

PASSWORD = "correct horse battery staple"
ENV = {
    "TUSD_AUTH": "local",
    "TUSD_COOKIE_SECURE": "false",
    "TUSD_LADDER_HEIGHTS": "144",
    "TUSD_X264_PRESET": "ultrafast",
    "TUSD_THUMBNAIL_COUNT": "1",
    "TUSD_SEGMENT_SECONDS": "1",
}


async def _account(base: str) -> tuple[dict[str, str], str, dict[str, str]]:
    """A new user's Authorization header, user id and credentials, through /auth."""
    account = {"email": f"e2e-{secrets.token_hex(6)}@example.test", "password": PASSWORD}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/auth/register", json=account) as resp:
            assert resp.status == 201, await resp.text()
            user_id = (await resp.json())["id"]
        async with http.post(f"{base}/auth/login", json=account) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["access_token"]
    return {"Authorization": f"Bearer {token}"}, user_id, account


def _readdressed(url: str, audience: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"aud": audience}
    return parts._replace(query=urlencode(query)).geturl()


async def _status(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> int:
    async with http.get(url, **kwargs) as resp:
        await resp.read()
        return resp.status


async def test_a_ready_asset_is_its_owners_and_goes_with_the_account(tmp_path: Path) -> None:
    clip = make_marked_clip(tmp_path / "clip.mp4", "ownership-e2e", seconds=1.0, width=256, height=144).read_bytes()
    with running(tmp_path, ENV) as server:
        base = server.url
        alice, alice_id, alice_account = await _account(base)
        bob, bob_id, _ = await _account(base)
        timeout = aiohttp.ClientTimeout(total=120)
        async with (
            aiohttp.ClientSession(headers=alice, timeout=timeout) as as_alice,
            aiohttp.ClientSession(headers=bob, timeout=timeout) as as_bob,
            aiohttp.ClientSession(timeout=timeout) as nobody,
        ):
            upload_id = await tus_upload(as_alice, base, clip, filename="clip.mp4", filetype="video/mp4")
            bobs = await tus_upload(as_bob, base, b"not a video", filename="notes.txt")
            status = await wait_ready(as_alice, base, upload_id)
            assert status["uploaded_by"] == alice_id

            playback = status["playback_url"]
            assert parse_qs(urlsplit(playback).query)["aud"] == [alice_id]
            assert await _status(nobody, playback) == 200  # a capability: no token needed
            assert decode_hls(playback), "the signed playlist must play"
            assert await _status(nobody, status["poster_url"]) == 200

            # Bob: the asset does not exist for him, wherever he looks
            assert await _status(as_bob, f"{base}/media/{upload_id}") == 404
            assert await _status(as_bob, f"{base}/media/{upload_id}/events") == 404
            bob_token = bob["Authorization"].removeprefix("Bearer ")
            assert await _status(nobody, f"{base}/media/{upload_id}/events?access_token={bob_token}") == 404
            async with as_bob.get(f"{base}/media") as resp:
                assert [item["id"] for item in (await resp.json())["items"]] in ([], [bobs])
            async with as_alice.get(f"{base}/media") as resp:
                listed = (await resp.json())["items"]
            assert [(item["id"], item["state"]) for item in listed] == [(upload_id, "ready")]
            assert await _status(nobody, _readdressed(playback, bob_id)) == 403  # aud is under the signature
            assert await _status(nobody, f"{base}/media/{upload_id}") == 401

            # Alice deletes her account: uploads, outputs and URLs go with it
            async with as_alice.delete(f"{base}/auth/me", json={"password": PASSWORD}) as resp:
                assert resp.status == 204, await resp.text()
            assert await _status(nobody, playback) in (404, 410)
            assert await _status(nobody, status["poster_url"]) in (404, 410)
            media_dir = server.data_dir / "media" / upload_id
            assert not media_dir.exists() or not any(p.is_file() for p in media_dir.rglob("*"))
            assert not (server.data_dir / "uploads" / upload_id).exists()
            async with nobody.post(f"{base}/auth/login", json=alice_account) as resp:
                assert resp.status == 401
            assert await _status(as_alice, f"{base}/media") == 401  # her token's session went too

            # Bob's upload is untouched
            async with as_bob.get(f"{base}/files/{bobs}", headers={"Tus-Resumable": "1.0.0"}) as resp:
                assert resp.status == 200 and await resp.read() == b"not a video"
