"""tus-js-client and tuspy against a real ``tusd-py serve`` with accounts on (``TUSD_AUTH=local``):
a user registers and logs in over ``/auth``, each client sends ``Authorization: Bearer <token>``
through its ``headers`` option on every request, is cut off mid-upload and resumes from the
server's offset; file store and S3 + Redis. The finished upload is its owner's alone: another
user's token gets 404 on it, no token 401.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError
from tusclient.storage.filestorage import FileStorage

from tests.clients.conftest import SIZE, TusServer, decode_metadata, sha256, upload_id
from tests.clients.proxy import CuttingProxy
from tests.clients.test_tus_js_client import METADATA, node, requests_of, run_client

__all__ = ["node"]  # the Node fixture, by name

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def accounts_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the server fixture copies the environment: local accounts, a token secret (S3 needs
    one), a plain-http refresh cookie."""
    monkeypatch.setenv("TUSD_AUTH", "local")
    monkeypatch.setenv("TUSD_JWT_SECRET", secrets.token_hex(32))
    monkeypatch.setenv("TUSD_COOKIE_SECURE", "false")


def login(base: str) -> dict[str, str]:
    """A new user's ``Authorization`` header, through the server's own /auth endpoints."""
    account = {"email": f"client-{secrets.token_hex(6)}@example.test", "password": PASSWORD}
    registered = httpx.post(f"{base}/auth/register", json=account, timeout=30)
    assert registered.status_code == 201, registered.text
    logged_in = httpx.post(f"{base}/auth/login", json=account, timeout=30)
    assert logged_in.status_code == 200, logged_in.text
    return {"Authorization": f"Bearer {logged_in.json()['access_token']}"}


def head(url: str, auth: dict[str, str]) -> httpx.Response:
    return httpx.head(url, headers={**TUS, **auth}, timeout=60)


def assert_owned(tus: TusServer, url: str, data: bytes, auth: dict[str, str]) -> None:
    """The finished upload is ``data`` for its owner (HEAD, GET, the store), 404 for another user
    and 401 for nobody."""
    final = head(url, auth)
    assert final.status_code == 200, final.text
    assert int(final.headers["Upload-Offset"]) == len(data) == int(final.headers["Upload-Length"])
    download = httpx.get(url, headers={**TUS, **auth}, timeout=60)
    assert download.status_code == 200 and sha256(download.content) == sha256(data)
    assert sha256(tus.stored(upload_id(url))) == sha256(data), f"{tus.kind} store holds other bytes"
    stranger = login(tus.server.url)
    assert head(url, stranger).status_code == 404
    assert httpx.get(url, headers={**TUS, **stranger}, timeout=60).status_code == 404
    assert head(url, {}).status_code == 401


@pytest.mark.parametrize("chunk_size", [1 * MiB, None], ids=["1MiB-patches", "single-patch"])
def test_tus_js_client_with_a_bearer_token_resumes(
    node: str, tus_server: TusServer, payload: Path, chunk_size: int | None
) -> None:
    auth = login(tus_server.server.url)
    data = payload.read_bytes()
    common: dict[str, Any] = {"file": str(payload), "chunkSize": chunk_size, "headers": auth}

    first = run_client(node, **common, endpoint=tus_server.endpoint, metadata=METADATA, abortAt=0.4, paceMs=3)
    assert first["event"] == "aborted", first
    url = first["url"]
    assert [r["status"] for r in requests_of(first, "POST")] == [201]
    server_offset = int(head(url, auth).headers["Upload-Offset"])
    assert 0 < server_offset < SIZE

    unauthenticated = run_client(node, file=str(payload), chunkSize=chunk_size, uploadUrl=url)
    assert unauthenticated["event"] == "error" and unauthenticated["requests"][0]["status"] == 401

    second = run_client(node, **common, uploadUrl=url)
    assert second["event"] == "success", second
    assert second["requests"][0]["method"] == "HEAD"
    assert int(second["requests"][0]["gotOffset"]) == server_offset
    assert int(requests_of(second, "PATCH")[0]["sentOffset"]) == server_offset
    assert all(200 <= r["status"] < 300 for r in second["requests"]), second["requests"]
    assert decode_metadata(head(url, auth).headers["Upload-Metadata"]) == METADATA
    assert_owned(tus_server, url, data, auth)


@pytest.fixture
def proxy(tus_server: TusServer) -> Iterator[CuttingProxy]:
    started = CuttingProxy(tus_server.server.port, cut_after=int(0.45 * SIZE)).start()
    try:
        yield started
    finally:
        started.close()


def test_tuspy_with_a_bearer_token_resumes(
    tus_server: TusServer, proxy: CuttingProxy, payload: Path, tmp_path: Path
) -> None:
    auth = login(tus_server.server.url)
    data = payload.read_bytes()
    urls = tmp_path / "tus-urls.json"
    metadata = {"filename": "tuspy bearer.bin", "filetype": "application/octet-stream"}

    def uploader() -> Any:
        client = TusClient(f"{proxy.url}/files/", headers=auth)  # sent with every request
        return client.uploader(
            file_path=str(payload), chunk_size=2 * MiB, metadata=metadata, store_url=True, url_storage=FileStorage(urls)
        )

    first = uploader()
    with pytest.raises(TusCommunicationError):
        first.upload()
    assert proxy.cut.is_set()
    acknowledged = first.offset

    second = uploader()  # a new program run: the URL comes from tuspy's storage, the offset from HEAD
    assert second.url == first.url
    direct = f"{tus_server.endpoint}{upload_id(second.url)}"
    assert acknowledged < second.offset < SIZE
    assert second.offset == int(head(direct, auth).headers["Upload-Offset"])
    second.upload()

    assert decode_metadata(head(direct, auth).headers["Upload-Metadata"]) == metadata
    assert_owned(tus_server, direct, data, auth)


def test_a_client_without_the_token_is_refused_before_anything_is_stored(tus_server: TusServer) -> None:
    client = TusClient(tus_server.endpoint)
    with pytest.raises(TusCommunicationError) as refused:
        client.uploader(file_stream=io.BytesIO(os.urandom(1024)), chunk_size=1024).upload()
    assert refused.value.status_code == 401
