"""Where events come from: small decorators over ports the server already calls, so neither the
core nor the pipeline knows of webhooks.

* ``EventingCatalogue`` wraps the core's ``Catalogue``, which hears of every upload's creation
  and removal: ``upload.created``, ``media.deleted``.
* ``EventingSink`` wraps the ``CompletionSink``: ``upload.finished`` is recorded before the
  hand-off, and the finisher repeats both until the hand-off is recorded, so a crash in between
  records the event again (the same id: one event) rather than losing it.
* ``OutboxMediaEvents`` implements the pipeline's ``MediaEvents`` port: the job reports each
  final record (ready, stored, failed), in the worker or the embedded queue; a job that is run
  again after a crash reports the record it finds final, so the event is recorded at least once.

Each records into the outbox through one ``EventRecorder``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.contract import MediaRecord
from pipeline.errors import StorageUnavailable as PipelineStorageUnavailable

from ..core.catalogue import Catalogue, Entry, Usage
from ..core.ports import CompletionSink, Store
from ..protocol.errors import StorageUnavailable, TusError
from ..protocol.info import UploadInfo
from . import events
from .outbox import Outbox


class EventRecorder:
    """Records an event for every configured URL, and wakes this process's dispatcher."""

    def __init__(self, outbox: Outbox, urls: Sequence[str], notify: Callable[[], None] | None = None) -> None:
        self.outbox = outbox
        self.urls = tuple(urls)
        self.notify = notify

    async def record(self, event: str, event_id: str, upload_id: str, **fields: Any) -> None:
        now = time.time()
        body = events.body(event, event_id, upload_id, now, **fields)
        await self.outbox.record(event, event_id, body, self.urls, now)
        if self.notify is not None:
            self.notify()


class EventingCatalogue:
    """A ``Catalogue`` that also records ``upload.created`` and ``media.deleted``."""

    def __init__(self, inner: Catalogue, recorder: EventRecorder) -> None:
        self.inner = inner
        self.recorder = recorder

    async def created(self, info: UploadInfo) -> None:
        await self.inner.created(info)
        if not info.is_partial:  # a partial of a concatenation is no file of its own
            eid = events.event_id(events.UPLOAD_CREATED, info.id)
            await self.recorder.record(events.UPLOAD_CREATED, eid, info.id, **events.upload_fields(info))

    async def updated(self, info: UploadInfo) -> None:
        await self.inner.updated(info)

    async def terminated(self, upload_id: str) -> None:
        await self.inner.terminated(upload_id)
        eid = events.event_id(events.MEDIA_DELETED, upload_id)
        await self.recorder.record(events.MEDIA_DELETED, eid, upload_id)

    async def usage(self, owner: str) -> Usage:
        return await self.inner.usage(owner)

    async def page(self, owner: str, *, before: str | None, limit: int) -> tuple[list[Entry], str | None]:
        return await self.inner.page(owner, before=before, limit=limit)

    async def ids(self, owner: str) -> list[str]:
        return await self.inner.ids(owner)


class EventingSink:
    """A ``CompletionSink`` that records ``upload.finished`` before handing the upload off."""

    def __init__(self, inner: CompletionSink, recorder: EventRecorder) -> None:
        self.inner = inner
        self.recorder = recorder

    async def upload_finished(self, info: UploadInfo) -> None:
        eid = events.event_id(events.UPLOAD_FINISHED, info.id)
        await self.recorder.record(events.UPLOAD_FINISHED, eid, info.id, **events.upload_fields(info))
        await self.inner.upload_finished(info)


class OutboxMediaEvents:
    """The pipeline's ``MediaEvents``: ``media.ready`` / ``media.failed`` with the upload's owner,
    size and name from the upload store (``attach``ed once the process has opened it)."""

    def __init__(self, recorder: EventRecorder, store: Store | None = None) -> None:
        self.recorder = recorder
        self.store = store

    def attach(self, store: Store) -> None:
        self.store = store

    async def settled(self, record: MediaRecord) -> None:
        which = events.media_event(record)
        if which is None:
            return
        event, eid = which
        try:
            fields = events.upload_fields(await self._info(record.upload_id))
            await self.recorder.record(event, eid, record.upload_id, **fields, **events.media_fields(record))
        except StorageUnavailable as exc:  # the pipeline's own error: the job runs again later
            raise PipelineStorageUnavailable(str(exc)) from exc

    async def _info(self, upload_id: str) -> UploadInfo | None:
        if self.store is None:
            return None
        try:
            return await (await self.store.get_upload(upload_id)).get_info()
        except StorageUnavailable:
            raise
        except TusError:  # gone or never known here: the event goes without owner, size and name
            return None
