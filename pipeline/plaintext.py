"""Once an asset is ready, the plaintext upload leaves the upload store: the encrypted kept
original (``original`` in the asset) replaces it, and GET on the tus URL serves that, decrypted.

HEAD on the tus URL must keep answering offset == length; ``UploadSource.drop_source`` does
that in each store's own way (the file store leaves a sparse file of the same size, the S3 store
deletes the object and keeps the record and ``.info``). Idempotent: a duplicate or retried job
may run it again.
"""

from __future__ import annotations

import structlog

from .contract import MediaRecord, MediaState
from .ports import SourceInfo, UploadSource
from .records import MediaRecords, update

log = structlog.get_logger("pipeline.plaintext")


async def drop_source_if_ready(
    uploads: UploadSource, records: MediaRecords, info: SourceInfo, record: MediaRecord
) -> None:
    """Drop the plaintext source of a ready asset that keeps an encrypted original, once."""
    if record.state is not MediaState.READY or not record.original or record.source_dropped:
        return
    done = await uploads.drop_source(info.upload_id)

    def mark(current: MediaRecord | None) -> MediaRecord | None:
        if current is None or current.source_dropped or current.state is not MediaState.READY:
            return None
        return current.evolve(source_dropped=True)

    await update(records, record.upload_id, mark)
    log.info("source_dropped", upload_id=record.upload_id, store=info.storage, removed=done)
