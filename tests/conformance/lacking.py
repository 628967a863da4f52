"""MemoryStores that lack optional capabilities, for the cases of a store without them.

A method set to None does not implement a runtime-checkable Protocol, so ``StoreComposer``
does not find the capability (the uploads keep their methods; nothing calls them)."""

from __future__ import annotations

from tusd_py.stores.memory import MemoryStore


class CoreOnlyStore(MemoryStore):
    """Only the core contract: create, find, write, finish, state, lifecycle."""

    as_terminatable_upload = purge_tombstones = None  # type: ignore[assignment]
    as_length_declarable_upload = as_expiring_upload = as_readable_upload = None  # type: ignore[assignment]
    as_discardable_upload = concat = list_upload_ids = None  # type: ignore[assignment]


class NoTerminationStore(MemoryStore):
    as_terminatable_upload = purge_tombstones = None  # type: ignore[assignment]
