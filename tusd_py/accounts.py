"""Erasing an account's data: every upload of the owner, and everything processing made of it.
The same removal of processed media serves a single DELETE of a finished upload
(``remove_media``, the tus DELETE's ``MEDIA_REMOVER`` port in ``web/transfer.py``).

``DELETE /auth/me`` (the auth package) calls the ``ERASER`` AppKey (``tusd_py/auth/keys.py``) with the
user id before it removes the account row: the eraser walks the catalogue's ids of the owner and,
for each upload,

1. deletes its processed outputs (``media/<id>/``: HLS ladder, poster, thumbnails, the encrypted
   kept original) from the asset store;
2. rewrites its media record without the wrapped data key and without outputs, state
   ``failed`` with the reason ``erased``: the record port has no removal, and a key that is
   gone leaves nothing to decrypt even where a copy of the ciphertext survives (a backup);
3. terminates it through the service (its bytes, its info, and last its catalogue row; a
   tombstone says 410 to a client that comes back with the URL), as an owner's DELETE would.

It stops at the first storage error (503) so that the account stays and the erasure can be
run again: every step is idempotent, and the catalogue row that names the upload goes last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from pipeline.contract import MEDIA_PREFIX, MediaState

from .core.service import UploadService
from .processing import as_server_errors
from .protocol.errors import UploadGone, UploadNotFound

if TYPE_CHECKING:
    from pipeline.assets import AssetStore
    from pipeline.records import MediaRecords

log = structlog.get_logger("tusd_py.accounts")

ERASED = "erased with its owner's account"
DELETED = "deleted with its upload"


class AccountEraser:
    def __init__(self, service: UploadService, records: MediaRecords, assets: Callable[[], AssetStore]) -> None:
        self.service = service
        self.records = records
        self.assets = assets  # opened after the store's start(): asked for at the first erasure

    async def erase(self, owner: str) -> None:
        """Erase every upload and asset of ``owner`` (a user id; never the open server's "")."""
        if not owner:
            raise ValueError("the empty owner is every anonymous upload: refusing to erase them")
        ids = await self.service.catalogue.ids(owner)
        for upload_id in ids:
            await self._upload(owner, upload_id)
        log.info("account_erased", owner=owner, uploads=len(ids))

    async def _upload(self, owner: str, upload_id: str) -> None:
        stored = await self._stored_owner(upload_id)
        if stored is not None and stored != owner:  # a catalogue row that lies: not this owner's to erase
            log.warning("erase_skipped_not_owner", upload_id=upload_id)
            return
        # The media first: the catalogue row, gone last with the upload, keeps the id for a rerun.
        removed = await self.remove_media(upload_id, reason=ERASED)
        try:
            await self.service.terminate(upload_id, owner)
        except (UploadNotFound, UploadGone):
            await self.service.catalogue.terminated(upload_id)  # the store lost it first: the row goes too
        log.info("upload_erased", upload_id=upload_id, outputs=removed)

    async def remove_media(self, upload_id: str, *, reason: str = DELETED) -> int:
        """Delete what processing made of an upload: its outputs, and its record's data key and
        output names (state ``failed`` with ``reason``). The number of stored objects removed."""
        with as_server_errors():
            record = await self.records.get(upload_id)
            removed = await self.assets().delete_prefix(f"{MEDIA_PREFIX}{upload_id}/")
            if record is not None and (record.data_key or record.output_prefix):
                emptied = record.evolve(
                    state=MediaState.FAILED,
                    reason=reason,
                    data_key={},
                    master_playlist="",
                    renditions=[],
                    poster="",
                    thumbnails=[],
                    original="",
                    manifest="",
                    output_prefix="",
                )
                await self.records.put(emptied)
        if removed or record is not None:
            log.info("media_removed", upload_id=upload_id, outputs=removed, reason=reason)
        return removed

    async def _stored_owner(self, upload_id: str) -> str | None:
        """The stored owner of an upload, None when the store has no such upload any more."""
        try:
            return (await self.service.info(upload_id)).owner
        except (UploadNotFound, UploadGone):
            return None
