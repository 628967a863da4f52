"""The sweeper: removes expired uploads, retries stuck completions and hand-offs, purges tombstones,
and has processing audit each handed-off upload.

It is the backstop of the completion state machine: an upload whose completion or hand-off
was cut short by a crash is finished here even if its client never comes back. With an audit
(``ProcessingAudit``, the pipeline's ``recovery.Recovery`` wired by ``app.py`` when jobs go
through Redis), each handed-off upload whose processing is not final is checked against the
queue: a job lost with Redis is written again, a job whose worker died is released, within one
sweep.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

import structlog

from ..protocol.errors import TusError
from ..protocol.info import UploadState
from .service import UploadService

log = structlog.get_logger("tusd_py.sweeper")


@dataclass
class SweepReport:
    expired: int = 0
    finished: int = 0
    purged: int = 0
    repaired: int = 0  # handed-off uploads whose processing had no fact behind it


class ProcessingAudit(Protocol):
    async def audit(self, upload_id: str) -> str | None:
        """Check that the processing of a handed-off upload is final or has a live job; repair it
        if not. What was repaired (for the log), or None."""


class Sweeper:
    def __init__(
        self, service: UploadService, *, tombstone_ttl: float, processing: ProcessingAudit | None = None
    ) -> None:
        self.service = service
        self.tombstone_ttl = tombstone_ttl
        self.processing = processing

    async def run_once(self, now: float | None = None) -> SweepReport:
        now = time.time() if now is None else now
        report = SweepReport()
        stores = self.service.stores
        if stores.lister is not None:  # without one, stuck uploads wait for their clients' next request
            async for upload_id in stores.lister.list_upload_ids():
                try:
                    await self._visit(upload_id, now, report)
                except TusError as exc:  # busy, gone meanwhile, or storage trouble: next round
                    log.debug("sweep_skipped", upload_id=upload_id, error=exc.message)
                except Exception:
                    log.exception("sweep_failed", upload_id=upload_id)
        if stores.terminater is not None:
            report.purged = await stores.terminater.purge_tombstones(now - self.tombstone_ttl)
        return report

    async def _visit(self, upload_id: str, now: float, report: SweepReport) -> None:
        upload = await self.service.store.get_upload(upload_id)
        info = await upload.get_info()
        terminater = self.service.stores.terminater
        expired = info.expires_at is not None and not info.is_complete and info.expires_at <= now
        if self.processing is not None and info.state is UploadState.HANDED_OFF and info.is_finished_file:
            await self._audit(upload_id, report)
        stuck = info.is_complete and info.state is not UploadState.HANDED_OFF
        if stuck and info.is_partial and info.state is UploadState.COMPLETED:
            stuck = False  # partials rest in COMPLETED: they are never handed off
        if not ((expired and terminater is not None) or stuck):
            return
        async with self.service.locker.lock(upload_id, timeout=1.0):
            if expired and terminater is not None:
                await terminater.as_terminatable_upload(upload).terminate("expired")
                await self.service.catalogue.terminated(upload_id)
                report.expired += 1
                log.info("upload_expired", upload_id=upload_id)
            else:  # re-read under the lock: another instance may have finished it meanwhile
                fresh = await upload.get_info()
                before = fresh.state
                if (await self.service.finisher.ensure_finished(upload, fresh)).state is not before:
                    report.finished += 1

    async def _audit(self, upload_id: str, report: SweepReport) -> None:
        assert self.processing is not None
        try:
            repaired = await self.processing.audit(upload_id)
        except Exception as exc:  # Redis or the records away: the next sweep tries again
            log.warning("audit_failed", upload_id=upload_id, error=str(exc) or type(exc).__name__)
            return
        if repaired is not None:
            report.repaired += 1
            log.info("processing_repaired", upload_id=upload_id, action=repaired)

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                report = await self.run_once()
                if report.expired or report.finished or report.purged or report.repaired:
                    log.info("sweep_done", **report.__dict__)
            except Exception:
                log.exception("sweep_crashed")
            await asyncio.sleep(interval)
