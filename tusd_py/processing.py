"""The pipeline's ports, implemented with the server's store, and the edge where the server
calls the pipeline: errors cross here in both directions.

* ``StoreUploads``: the pipeline's ``UploadSource`` over a tus ``Store`` (read a finished
  upload, drop its plaintext once processed, list the handed-off ones). The store's errors
  become the pipeline's (``SourceMissing``, ``StorageUnavailable``).
* ``build_assets``: where outputs go, beside the uploads (the S3 store's bucket, or data_dir).
* ``PlaybackVault``: the pipeline's ``MediaVault`` as playback's ``Vault`` port; the pipeline's
  storage errors become the server's (503 for a transient one), so nothing of the pipeline's
  error tree reaches the middleware.
* ``StatusRecords``: the pipeline's media records as playback's status source, with the same
  translation (Redis unreachable is 503 ``ERR_STORAGE_UNAVAILABLE`` on ``/media/{id}``, never 500).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import structlog

from pipeline import errors as pipeline_errors
from pipeline.assets import AssetStore, FileAssetStore, Location, S3AssetStore
from pipeline.contract import MediaRecord
from pipeline.ports import SourceInfo, UploadSource
from pipeline.vault import DecryptedObject, MediaVault

from .core.ports import PlaintextDiscarder, RangeReader, Store, UploadLister
from .protocol.errors import StorageUnavailable, TusError, UploadGone, UploadNotFound
from .protocol.info import UploadState

log = structlog.get_logger("tusd_py.processing")


@contextmanager
def _to_pipeline() -> Iterator[None]:
    try:
        yield
    except (UploadNotFound, UploadGone) as exc:
        raise pipeline_errors.SourceMissing(exc.message) from exc
    except StorageUnavailable as exc:
        raise pipeline_errors.StorageUnavailable(exc.message) from exc


@runtime_checkable
class ProcessableStore(Store, RangeReader, PlaintextDiscarder, UploadLister, Protocol):
    """A store processing can read from: ranged reads, plaintext discard, a listing."""


class StoreUploads:
    """The uploads of a tus store, as the pipeline's ``UploadSource``: the store must read
    ranges, discard plaintext and list its uploads (the file, memory and S3 stores do)."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, ProcessableStore):
            raise TypeError(f"{type(store).__name__} cannot serve processing (ranged reads, discard, listing)")
        self.store: ProcessableStore = store

    async def get(self, upload_id: str) -> SourceInfo:
        with _to_pipeline():
            info = await (await self.store.get_upload(upload_id)).get_info()
            if info.discarded:  # what the store holds is no source (S3: nothing; the file store: zeros)
                raise UploadNotFound(f"upload {upload_id} no longer holds its plaintext: processing dropped it")
        local = info.storage.get("path", "") if info.storage.get("type") == "file" else ""
        return SourceInfo(
            upload_id=info.id,
            size=info.size or 0,
            finished=info.is_finished_file,
            filename=info.meta().text("filename") or "",
            local_path=local,
            storage=info.storage.get("type", ""),
        )

    async def read(self, upload_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        with _to_pipeline():
            upload = self.store.as_readable_upload(await self.store.get_upload(upload_id))
            async for chunk in upload.read(start, end):
                yield chunk

    async def drop_source(self, upload_id: str) -> bool:
        with _to_pipeline():  # the store's records unreachable: the job's retry drops it
            try:
                upload = await self.store.get_upload(upload_id)
            except (UploadNotFound, UploadGone):
                return False  # terminated meanwhile: nothing plaintext is left
            await self.store.as_discardable_upload(upload).discard()
        return True

    async def handed_off(self) -> AsyncIterator[str]:
        async for upload_id in self.store.list_upload_ids():
            try:
                info = await (await self.store.get_upload(upload_id)).get_info()
            except Exception:
                log.exception("rescan_failed", upload_id=upload_id)
                continue
            if info.state is UploadState.HANDED_OFF and info.is_finished_file:
                yield upload_id


def build_assets(store_kind: str, store: Store, *, bucket: str, data_dir: str) -> AssetStore:
    """Outputs live beside the uploads: in the bucket with the S3 store, else under data_dir.
    Call it after the store's ``start()``: the S3 client opens there."""
    if store_kind == "s3":
        return S3AssetStore(getattr(store, "client"), bucket)  # noqa: B009 (the S3 store's open client)
    return FileAssetStore(data_dir)


@contextmanager
def as_server_errors() -> Iterator[None]:
    """The pipeline's errors as the server's, where the server calls into the pipeline: an
    unreachable storage stays 503 (``StorageUnavailable``), anything else of the pipeline's is 500."""
    try:
        yield
    except pipeline_errors.StorageUnavailable as exc:
        raise StorageUnavailable(str(exc)) from exc
    except pipeline_errors.PipelineError as exc:
        raise TusError(str(exc)) from exc


class PlaybackObject:
    """A decrypted object whose storage errors are the server's."""

    def __init__(self, inner: DecryptedObject) -> None:
        self.inner = inner

    @property
    def size(self) -> int:
        return self.inner.size

    async def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        with as_server_errors():
            async for chunk in self.inner.stream(start, end):
                yield chunk


class PlaybackVault:
    """The media vault for the web layer: the same calls, with the server's errors."""

    def __init__(self, inner: MediaVault) -> None:
        self.inner = inner

    async def original(self, upload_id: str) -> PlaybackObject | None:
        with as_server_errors():
            found = await self.inner.original(upload_id)
        return PlaybackObject(found) if found is not None else None

    async def read_text(self, record: MediaRecord, relative: str) -> str:
        with as_server_errors():
            return await self.inner.read_text(record, relative)

    async def media_playlist(
        self, record: MediaRecord, relative: str, key_uri: str, uri_for: Callable[[str], str]
    ) -> str:
        with as_server_errors():
            return await self.inner.media_playlist(record, relative, key_uri, uri_for)

    async def hls_key(self, record: MediaRecord) -> bytes:
        with as_server_errors():
            return await self.inner.hls_key(record)

    async def open(self, record: MediaRecord, relative: str) -> PlaybackObject:
        with as_server_errors():
            return PlaybackObject(await self.inner.open(record, relative))

    async def locate(self, record: MediaRecord, relative: str) -> Location:
        with as_server_errors():
            return await self.inner.locate(record, relative)


class _MediaRecords(Protocol):
    """What ``StatusRecords`` uses of the pipeline's ``MediaRecords``."""

    async def get(self, upload_id: str) -> MediaRecord | None: ...

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]: ...


class StatusRecords:
    """The media records for playback's status and events: the same calls, with the server's errors."""

    def __init__(self, inner: _MediaRecords) -> None:
        self.inner = inner

    async def get(self, upload_id: str) -> MediaRecord | None:
        with as_server_errors():
            return await self.inner.get(upload_id)

    @asynccontextmanager
    async def watch(self, upload_id: str) -> AsyncIterator[AsyncIterator[MediaRecord]]:
        with as_server_errors():
            async with self.inner.watch(upload_id) as changes:
                yield _translated(changes)


async def _translated(changes: AsyncIterator[MediaRecord]) -> AsyncIterator[MediaRecord]:
    with as_server_errors():
        async for record in changes:
            yield record


if TYPE_CHECKING:
    _uploads: type[UploadSource] = StoreUploads
