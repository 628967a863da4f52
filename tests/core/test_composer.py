"""StoreComposer: the capabilities of a store, and what the server does without one (tusd's
composer tests). ``Tus-Extension`` follows from the store; a request that needs a missing
capability is 501 ERR_NOT_IMPLEMENTED and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tusd_py.app import create_app
from tusd_py.core.composer import StoreComposer
from tusd_py.protocol.constants import ALL_EXTENSIONS
from tusd_py.protocol.headers import Metadata
from tusd_py.settings import Settings
from tusd_py.stores.memory import MemoryStore

from ..conformance.lacking import CoreOnlyStore, NoTerminationStore
from ..web.helpers import OCTET, TusCase, create


def test_the_memory_store_offers_every_extension() -> None:
    composer = StoreComposer.of(MemoryStore())
    assert composer.extensions(expiry_seconds=60) == list(ALL_EXTENSIONS)
    assert "expiration" not in composer.extensions(expiry_seconds=0)
    assert "=no" not in composer.capabilities()


def test_a_core_only_store_offers_creation_and_checksum() -> None:
    composer = StoreComposer.of(CoreOnlyStore())
    assert composer.extensions(expiry_seconds=60) == ["creation", "creation-with-upload", "checksum"]
    assert not composer.expires
    assert "=yes" not in composer.capabilities()


def test_expiration_needs_termination_too() -> None:
    composer = StoreComposer.of(NoTerminationStore())
    assert composer.expirer is not None and not composer.expires
    assert not {"termination", "expiration"} & set(composer.extensions(expiry_seconds=60))


async def test_without_termination_options_omits_it_and_delete_is_501(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(), store=NoTerminationStore(), background=False))
    result = await TusCase("OPTIONS", "/files/").run(client)
    offered = result.headers["Tus-Extension"].split(",")
    assert "termination" not in offered and "expiration" not in offered and "concatenation" in offered
    path = await create(client, 5)
    result = await TusCase("DELETE", path, status=501).run(client)
    assert b"ERR_NOT_IMPLEMENTED" in result.body
    still_there = TusCase(
        "HEAD", path, status=200, expect_headers={"Upload-Offset": "0"}, absent_headers=["Upload-Expires"]
    )
    await still_there.run(client)


async def test_a_core_only_store_uploads_and_refuses_the_rest(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(), store=CoreOnlyStore(), background=False))
    path = await create(client, 5)
    headers = {"Content-Type": OCTET, "Upload-Offset": "0"}
    await TusCase("PATCH", path, headers=headers, body=b"hello", expect_headers={"Upload-Offset": "5"}).run(client)
    await TusCase("HEAD", path, status=200, expect_headers={"Upload-Offset": "5", "Upload-Length": "5"}).run(client)
    await TusCase("POST", "/files/", headers={"Upload-Defer-Length": "1"}, status=501).run(client)
    partial = {"Upload-Length": "5", "Upload-Concat": "partial"}
    await TusCase("POST", "/files/", headers=partial, status=501).run(client)
    await TusCase("GET", path, status=501).run(client)
    await TusCase("DELETE", path, status=501).run(client)


async def test_the_sweeper_leaves_a_store_without_lister_and_terminater_alone() -> None:
    from tusd_py.core.service import Limits, UploadService
    from tusd_py.core.sweeper import Sweeper
    from tusd_py.state.memory import MemoryLocker

    class Sink:
        async def upload_finished(self, info: Any) -> None:
            raise AssertionError("nothing is finished here")

    service = UploadService(CoreOnlyStore(), MemoryLocker(), Sink(), Limits(expiry_seconds=60))
    await service.create(length=5, metadata=Metadata())
    report = await Sweeper(service, tombstone_ttl=1).run_once(now=10**12)
    assert (report.expired, report.finished, report.purged) == (0, 0, 0)
