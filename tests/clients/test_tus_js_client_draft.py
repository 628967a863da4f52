"""tus-js-client in its IETF draft modes (``protocol: 'ietf-draft-03'``, interop version 5, and
``'ietf-draft-05'``, interop version 6) against a real ``tusd-py serve``, file store and S3.

As in test_tus_js_client.py: 20 MiB, ``abort()`` mid-PATCH past 40%, then a new client (a new
Node process) resumes from the offset the server reports on HEAD; the finished bytes are
compared by sha256, downloaded and as the store holds them. The draft upload is a tus upload
too: the tus HEAD shows the metadata tus-js-client sent at creation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import SIZE, TusServer, assert_stored, decode_metadata, head
from tests.clients.test_tus_js_client import METADATA, MiB, node, requests_of, run_client

INTEROP = {"ietf-draft-03": "5", "ietf-draft-05": "6"}
__all__ = ["node"]  # the fixture, shared with the tus-v1 tests


@pytest.mark.parametrize("protocol", sorted(INTEROP))
@pytest.mark.parametrize("chunk_size", [1 * MiB, None], ids=["1MiB-patches", "single-patch"])
def test_draft_upload_aborted_and_resumed(
    node: str, tus_server: TusServer, payload: Path, protocol: str, chunk_size: int | None
) -> None:
    data = payload.read_bytes()
    common: dict[str, Any] = {"file": str(payload), "chunkSize": chunk_size, "protocol": protocol}

    first = run_client(node, **common, endpoint=tus_server.endpoint, metadata=METADATA, abortAt=0.4, paceMs=3)
    assert first["event"] == "aborted", first
    url = first["url"]
    (post,) = requests_of(first, "POST")
    assert post["status"] == 201 and post["sentInterop"] == INTEROP[protocol]
    assert post["sentComplete"] == "?0"  # tus-js-client creates the upload empty, then appends

    server_offset = int(head(url)["Upload-Offset"])
    assert 0 < server_offset < SIZE, f"nothing to resume: the server has {server_offset} of {SIZE} bytes"

    second = run_client(node, **common, uploadUrl=url)
    assert second["event"] == "success", second
    assert second["requests"][0]["method"] == "HEAD"
    assert int(second["requests"][0]["gotOffset"]) == server_offset
    patches = requests_of(second, "PATCH")
    assert int(patches[0]["sentOffset"]) == server_offset
    assert all(r["sentInterop"] == INTEROP[protocol] for r in second["requests"])
    assert all(200 <= r["status"] < 300 for r in second["requests"]), second["requests"]
    # A file stream tells tus-js-client it is done only on the read after the last byte, so its
    # last PATCH may still say ?0: the server completes an upload whose offset reaches the length
    # it declared at creation (Upload-Length), and says so (docs/api.md).
    assert patches[-1]["gotComplete"] == "?1"
    assert all(p["gotComplete"] == "?0" for p in patches[:-1])

    final = head(url)
    assert decode_metadata(final["Upload-Metadata"]) == METADATA
    assert_stored(tus_server, url, data)
