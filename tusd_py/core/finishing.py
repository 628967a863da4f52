"""Completion as an explicit, idempotent state machine (tusd's hazard (b), tus-user-issues E18/E19).

receiving -> completing -> completed -> handed_off. Every transition is persisted before
the next step starts, so a crash or an S3 error in the middle is retried by the next HEAD,
PATCH or sweeper run (``finish()`` is idempotent in every store), and the hand-off to
processing happens once per upload. "completed" also ends the expiry, in the same write.
"completing" is recorded where ``finish()`` assembles an object (S3); where it only checks
what is stored (file, memory store), "receiving" with every byte stored means the same, and
the upload goes straight to "completed". The catalogue hears of an upload's last state
(handed_off, or completed for a partial) just before it is stored, so it is told again if it
failed.
"""

from __future__ import annotations

import copy

import structlog

from ..protocol.info import UploadInfo, UploadState
from .catalogue import Catalogue, NoCatalogue
from .observer import Observer
from .ports import CompletionSink, Upload

log = structlog.get_logger("tusd_py.finishing")


class Finisher:
    def __init__(
        self, sink: CompletionSink, observer: Observer | None = None, catalogue: Catalogue | None = None
    ) -> None:
        self.sink = sink
        self.observer = observer or Observer()
        self.catalogue = catalogue or NoCatalogue()

    async def _tell_catalogue(self, info: UploadInfo, state: UploadState) -> None:
        """Before ``state`` is stored: a catalogue that fails leaves the upload one step behind,
        and the next HEAD, PATCH or sweep redoes the step (every step is idempotent) and tells
        it again. Stored first, the upload would be finished for good and the catalogue never
        told (its owner's list, quota and erasure would miss it)."""
        told = copy.copy(info)
        told.state, told.expires_at = state, None
        await self.catalogue.updated(told)

    async def ensure_finished(self, upload: Upload, info: UploadInfo) -> UploadInfo:
        if not info.is_complete:
            return info
        finished = handed_off = False
        if info.state in (UploadState.RECEIVING, UploadState.COMPLETING):
            if info.state is UploadState.RECEIVING and upload.assembles:
                await upload.set_state(UploadState.COMPLETING)  # an interrupted assembly shows
            await upload.finish()  # assembles and verifies the object; idempotent
            if info.is_partial:  # COMPLETED is a partial's last state
                await self._tell_catalogue(info, UploadState.COMPLETED)
            await upload.set_state(UploadState.COMPLETED)  # ends the expiry in the same write
            info.state, info.expires_at = UploadState.COMPLETED, None
            finished = True
            self.observer.upload_finished()
        if info.state is UploadState.COMPLETED and not info.is_partial:
            # Partials are never processed: only the final upload of a concatenation is a file.
            await self.sink.upload_finished(info)
            await self._tell_catalogue(info, UploadState.HANDED_OFF)
            await upload.set_state(UploadState.HANDED_OFF)
            info.state = UploadState.HANDED_OFF
            handed_off = True
        # one line for what happened here; the usual case, both steps at once, is one line
        if finished:
            log.info(
                "upload_finished", upload_id=info.id, size=info.size, partial=info.is_partial, handed_off=handed_off
            )
        elif handed_off:
            log.info("upload_handed_off", upload_id=info.id)
        return info
