"""MemoryStore runs the store-conformance suite."""

from __future__ import annotations

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
