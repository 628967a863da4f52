"""Once an asset is ready, the plaintext upload leaves the upload store: the encrypted kept
original (``original`` in the asset) replaces it, and GET on the tus URL serves that, decrypted.

HEAD on the tus URL must keep answering offset == length; each store's ``Upload.release()``
does that in its own way (the file store leaves a sparse file of the same size, the S3 store
deletes the object and keeps the record and ``.info``). Idempotent: a duplicate or retried
job may run it again.
"""

from __future__ import annotations

import structlog

from tusd_py.core.ports import Store
from tusd_py.protocol.errors import UploadGone, UploadNotFound
from tusd_py.protocol.info import UploadInfo

from .contract import MediaRecord, MediaState
from .records import MediaRecords, update

log = structlog.get_logger("pipeline.release")


async def release_source(store: Store, info: UploadInfo) -> bool:
    """Remove the upload's plaintext bytes from the store; False if the upload is gone already."""
    try:
        upload = await store.get_upload(info.id)
    except (UploadNotFound, UploadGone):
        return False  # terminated meanwhile: nothing plaintext is left
    await upload.release()
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
