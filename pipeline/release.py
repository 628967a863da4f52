"""Once an asset is ready, the plaintext upload leaves the upload store: the encrypted kept
original (``original`` in the asset) replaces it, and GET on the tus URL serves that, decrypted.

The tus side must keep answering HEAD with offset == length, and the tus core knows nothing
of this, so each store is released in the way that keeps its own bookkeeping true:

* file store: the data file is replaced (atomically, by rename) with a *sparse* file of the
  same length. The store's offset is the data file's size, so HEAD is unchanged; the file
  holds no data blocks, so no plaintext byte remains (and it costs no disk space).
* S3 store: the object is deleted. HEAD reads the upload's record in Redis, which is kept
  after completion. A record rebuilt from S3 after losing Redis is still complete: its
  ``.info`` says ``handed_off``.
* memory store (tests): nothing to do.

Idempotent: a duplicate or retried job may run it again.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Any

import structlog

from tusd_py.core.ports import Store
from tusd_py.protocol.info import UploadInfo

from .contract import MediaRecord, MediaState
from .records import MediaRecords, update

log = structlog.get_logger("pipeline.release")


def _sparse_replace(path: Path, size: int) -> None:
    if not path.exists():
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.released")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size)  # a hole: no blocks, reads as zeros
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def _delete_object(store: Any, bucket: str, key: str) -> None:
    from tusd_py.stores.s3.client import map_s3_errors

    async with map_s3_errors("DeleteObjects"):
        await store.client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}], "Quiet": True})


async def release_source(store: Store, info: UploadInfo) -> bool:
    """Remove the upload's plaintext bytes from the store; True if something was done."""
    kind = info.storage.get("type")
    if kind == "file" and info.storage.get("path"):
        await asyncio.to_thread(_sparse_replace, Path(info.storage["path"]), info.size or 0)
    elif kind == "s3" and info.storage.get("key"):
        await _delete_object(store, info.storage["bucket"], info.storage["key"])
    else:
        return False
    return True


async def release_if_ready(store: Store, records: MediaRecords, info: UploadInfo, record: MediaRecord) -> None:
    """Release the source of a ready asset that keeps an encrypted original, once."""
    if record.state is not MediaState.READY or not record.original or record.source_released:
        return
    done = await release_source(store, info)

    def mark(current: MediaRecord | None) -> MediaRecord | None:
        if current is None or current.source_released or current.state is not MediaState.READY:
            return None
        return current.evolve(source_released=True)

    await update(records, record.upload_id, mark)
    log.info("source_released", upload_id=record.upload_id, store=info.storage.get("type"), removed=done)
