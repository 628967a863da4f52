"""tuspy (PyPI) against a real ``tusd-py serve`` (issue 2 §4, issue 3 tests).

The first client uploads 20 MiB in 2 MiB PATCHes through a proxy that drops the connection
once, in the middle of a PATCH body past 45% of the file. A new client, finding the upload URL
in tuspy's own URL storage by the file's fingerprint, resumes from the server's HEAD offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError
from tusclient.storage.filestorage import FileStorage
from tusclient.uploader.uploader import Uploader

from tests.clients.conftest import SIZE, TusServer, assert_stored, decode_metadata, head, upload_id
from tests.clients.proxy import CuttingProxy

MiB = 1024 * 1024
CHUNK = 2 * MiB
CUT_AFTER = int(0.45 * SIZE)  # inside the 5th PATCH: 4 are acknowledged, the 5th is cut
METADATA = {"filename": "tuspy 20MiB.bin", "filetype": "application/octet-stream"}


@pytest.fixture
def proxy(tus_server: TusServer) -> Iterator[CuttingProxy]:
    started = CuttingProxy(tus_server.server.port, cut_after=CUT_AFTER).start()
    try:
        yield started
    finally:
        started.close()


def new_uploader(proxy: CuttingProxy, payload: Path, urls: Path) -> Uploader:
    """A fresh client, as after a restart of the uploading program: only the URL storage survives."""
    client = TusClient(f"{proxy.url}/files/")
    return client.uploader(
        file_path=str(payload), chunk_size=CHUNK, metadata=METADATA, store_url=True, url_storage=FileStorage(urls)
    )


def test_dropped_connection_then_a_new_client_resumes(
    tus_server: TusServer, proxy: CuttingProxy, payload: Path, tmp_path: Path
) -> None:
    data = payload.read_bytes()
    urls = tmp_path / "tus-urls.json"

    first = new_uploader(proxy, payload, urls)
    with pytest.raises(TusCommunicationError):
        first.upload()
    assert proxy.cut.is_set()
    acknowledged = first.offset
    assert acknowledged == 4 * CHUNK  # the last Upload-Offset the server answered before the drop

    second = new_uploader(proxy, payload, urls)
    assert second.url is not None and second.url == first.url  # found in the URL storage by the file's fingerprint
    direct = f"{tus_server.endpoint}{upload_id(second.url)}"  # the server itself, not through the proxy
    resumed_from = second.offset  # from the HEAD the uploader sends when it is built
    # The server kept the bytes of the cut PATCH that reached it: past the last answer, short of the end.
    assert acknowledged < resumed_from < SIZE
    assert resumed_from == int(head(direct)["Upload-Offset"])
    second.upload()

    assert decode_metadata(head(direct)["Upload-Metadata"]) == METADATA
    assert_stored(tus_server, direct, data)
