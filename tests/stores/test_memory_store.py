"""MemoryStore runs the store-conformance suite."""

from __future__ import annotations

from tests.conformance.lacking import CoreOnlyStore
from tests.conformance.store_suite import StoreConformance
from tusd_py.core.ports import Store
from tusd_py.stores.memory import MemoryStore


class TestMemoryStore(StoreConformance):
    async def make_store(self) -> Store:
        return MemoryStore()

    async def stored_size(self, store: Store, upload_id: str) -> int | None:
        assert isinstance(store, MemoryStore)
        entry = store.uploads.get(upload_id)
        return None if entry is None else len(entry[1])


class TestCoreOnlyStore(TestMemoryStore):
    """The core of the contract alone: every capability's case is skipped, the rest still holds."""

    async def make_store(self) -> Store:
        return CoreOnlyStore()
