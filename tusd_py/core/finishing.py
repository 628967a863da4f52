"""Completion as an explicit, idempotent state machine (tusd's hazard (b), tus-user-issues E18/E19).

receiving -> completing -> completed -> handed_off. Every transition is persisted before
the next step starts, so a crash or an S3 error in the middle is retried by the next HEAD,
PATCH or sweeper run (``finish()`` is idempotent in every store), and the hand-off to
processing happens once per upload. "completed" also ends the expiry, in the same write.
"completing" is recorded where ``finish()`` assembles an object (S3); where it only checks
what is stored (file, memory store), "receiving" with every byte stored means the same, and
the upload goes straight to "completed".
"""

from __future__ import annotations

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

    async def ensure_finished(self, upload: Upload, info: UploadInfo) -> UploadInfo:
        if not info.is_complete:
            return info
        finished = handed_off = False
        if info.state in (UploadState.RECEIVING, UploadState.COMPLETING):
            if info.state is UploadState.RECEIVING and upload.assembles:
                await upload.set_state(UploadState.COMPLETING)  # an interrupted assembly shows
            await upload.finish()  # assembles and verifies the object; idempotent
            await upload.set_state(UploadState.COMPLETED)  # ends the expiry in the same write
            info.state, info.expires_at = UploadState.COMPLETED, None
            finished = True
            self.observer.upload_finished()
        if info.state is UploadState.COMPLETED and not info.is_partial:
            # Partials are never processed: only the final upload of a concatenation is a file.
            await self.sink.upload_finished(info)
            await upload.set_state(UploadState.HANDED_OFF)
            info.state = UploadState.HANDED_OFF
            handed_off = True
        if finished or handed_off:  # the catalogue hears of state changes only, never of a PATCH's bytes
            await self.catalogue.updated(info)
        # one line for what happened here; the usual case, both steps at once, is one line
        if finished:
            log.info(
                "upload_finished", upload_id=info.id, size=info.size, partial=info.is_partial, handed_off=handed_off
            )
        elif handed_off:
            log.info("upload_handed_off", upload_id=info.id)
        return info
