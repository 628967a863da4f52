"""``process_upload(ctx, upload_id)``: one finished upload -> HLS ladder + poster, published once.

Read top to bottom: reread the upload, claim the record (skip if ready), fetch the source
(a file-store upload is read in place), probe it in the process pool, then transcode +
thumbnails there (progress comes back through the pool's channel, ``pool.py``), publish (encrypted)
under the attempt's prefix, switch the record to ready, then remove the plaintext upload from
the store (``plaintext.py``). The scratch directory is made only when it is needed.

A file that is no media at all (a text, a PDF) is no error: ``stored`` (an info line), the upload
stays in the store as it is. Errors: broken media (truncated, corrupt) -> ``failed`` with the
reason, at once. Transient storage/Redis errors -> ``TransientError`` (arq: ``Retry`` with
backoff; the last try marks the record ``failed``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any

import structlog

from . import source
from .context import Deps
from .contract import MediaRecord, MediaState
from .crypto.keys import KeyProviderError
from .errors import StorageUnavailable
from .heartbeat import Heartbeat
from .plaintext import drop_source_if_ready
from .records import update
from .scratch import Scratch
from .work import probe_media, process_media

log = structlog.get_logger("pipeline.jobs")


class TransientError(Exception):
    """Storage or Redis trouble: the job should run again later."""


def is_transient(exc: BaseException) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    transient = (StorageUnavailable, RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
    if isinstance(exc, KeyProviderError):
        return exc.transient  # KMS throttled or unreachable: retry; a wrong key: fail
    return isinstance(exc, (*transient, BrokenProcessPool))


async def process_upload(ctx: dict[str, Any], upload_id: str) -> str:
    """The arq job. Returns the final state (kept by arq as the job result)."""
    from arq import Retry

    deps: Deps = ctx["deps"]
    job_try = int(ctx.get("job_try") or 1)
    final = job_try >= deps.settings.max_tries
    enqueued = ctx.get("enqueue_time")  # arq's: when the hand-off wrote the job, i.e. the upload finished
    since = enqueued.timestamp() if enqueued is not None else None
    # The heartbeat starts before the claim: a record that says processing always has one (recovery.py).
    redis = ctx.get("redis")  # arq's; a test may call the job without one
    beat: AbstractAsyncContextManager[object] = nullcontext()
    if redis is not None:
        beat = Heartbeat(redis, upload_id, deps.settings, job_try=job_try)
    async with beat:
        try:
            record = await run_timed(
                deps, upload_id, job_id=str(ctx.get("job_id") or ""), job_try=job_try, final=final, since=since
            )
        except TransientError as exc:
            delay = deps.settings.backoff(job_try)
            log.warning("job_retry", upload_id=upload_id, job_try=job_try, defer=delay, error=str(exc))
            await mark_retrying(deps, upload_id, job_try + 1, f"try {job_try} failed: {exc}; next in {delay:g} s")
            raise Retry(defer=delay) from exc
    return str(record.state) if record else "skipped"


async def run_timed(deps: Deps, upload_id: str, *, since: float | None = None, **kwargs: Any) -> MediaRecord | None:
    """``run`` within TUSD_JOB_TIMEOUT; a source this slow will not get faster: fail, no retry.
    Reports the try to ``deps.observer``; ``since`` (wall clock) is when the upload was handed off."""
    observer, state = deps.observer, "retry"
    observer.job_started()
    try:
        try:
            async with asyncio.timeout(deps.settings.job_timeout):
                record = await run(deps, upload_id, since=since, **kwargs)
        except TimeoutError:
            log.warning("job_timeout", upload_id=upload_id, timeout=deps.settings.job_timeout)
            record = await mark_failed(deps, upload_id, f"processing took longer than {deps.settings.job_timeout:g} s")
        if record is not None:
            await report_settled(deps, record)
        state = str(record.state) if record is not None else "skipped"
        return record
    finally:
        observer.job_ended(state)


async def report_settled(deps: Deps, record: MediaRecord) -> None:
    """Tell ``deps.events`` (webhooks) of a final record. A job run again after a crash finds the
    record final and reports it again, so the event is reported at least once; a report that
    cannot be recorded now makes the job run again (``TransientError``)."""
    if not record.state.terminal:
        return
    try:
        await deps.events.settled(record)
    except Exception as exc:
        raise _classify(exc) from exc


async def run(
    deps: Deps, upload_id: str, *, job_id: str = "", job_try: int = 1, final: bool = True, since: float | None = None
) -> MediaRecord | None:
    """One try of the job. Raises TransientError when a later try may succeed."""
    bound = log.bind(upload_id=upload_id, job_id=job_id, job_try=job_try)
    try:
        info = await source.load(deps.uploads, upload_id)
    except source.NotReady as exc:
        bound.warning("job_skipped", reason=str(exc))
        return await mark_failed(deps, upload_id, str(exc))
    except Exception as exc:
        raise _classify(exc) from exc
    attempt = f"t{job_try}-{uuid.uuid4().hex[:8]}"
    try:
        claimed = await update(deps.records, upload_id, _claim(upload_id, attempt, job_id, job_try))
        if claimed is None:
            bound.info("job_already_done")
            done = await deps.records.get(upload_id)
            if done is not None:  # the winner may have died before dropping the source
                await drop_source_if_ready(deps.uploads, deps.records, info, done)
            return await deps.records.get(upload_id)
        bound.info("job_started", attempt=attempt)
        scratch = Scratch(deps.settings.work_dir or None, upload_id)
        try:
            src = source.in_place(info) or await source.fetch(deps.uploads, info, scratch.path)
            verdict = await _pool_call(deps, probe_media, str(src))
            if "plain" in verdict:  # no media: nothing to transcode, the upload is the asset
                bound.info("job_stored", reason=verdict["plain"])
                return await mark_stored(deps, upload_id, verdict["plain"])
            outcome = verdict if "error" in verdict else await _transcode(deps, claimed, src, scratch.path, verdict)
            if "error" in outcome:
                bound.warning("job_failed", reason=outcome["error"])
                return await mark_failed(deps, upload_id, outcome["error"])
            deps.refresh_keys()
            record = await deps.publisher.publish(claimed, scratch.path / "out", outcome, src)
        finally:
            scratch.remove()
        await drop_source_if_ready(deps.uploads, deps.records, info, record)
        bound.info("job_done", attempt=record.attempt, prefix=record.output_prefix)
        if since is not None:
            deps.observer.ready_after(time.time() - since)  # from the hand-off to ready
        return await deps.records.get(upload_id) or record
    except Exception as exc:
        error = _classify(exc)
        if not isinstance(error, TransientError) or final:
            bound.exception("job_crashed" if not isinstance(error, TransientError) else "job_gave_up")
            await mark_failed(deps, upload_id, f"processing failed after {job_try} tries: {exc}")
            return await deps.records.get(upload_id)
        raise error from exc


async def _pool_call(deps: Deps, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    try:
        return await asyncio.get_running_loop().run_in_executor(deps.pool, fn, *args)
    except BrokenProcessPool:
        deps.reset_pool()
        raise


async def _transcode(
    deps: Deps, claimed: MediaRecord, src: Path, scratch_dir: Path, verdict: dict[str, Any]
) -> dict[str, Any]:
    """Run ``work.process_media`` in the pool, publishing its progress as it comes."""
    ladder_settings = {
        "heights": tuple(deps.settings.ladder_heights),
        "preset": deps.settings.x264_preset,
        "crf": deps.settings.x264_crf,
        "segment_seconds": deps.settings.segment_seconds,
        "audio_bitrate": deps.settings.audio_bitrate,
        "thumbnail_count": deps.settings.thumbnail_count,
    }
    pool = deps.pool
    fractions: asyncio.Queue[float | None] = asyncio.Queue()  # None: the call is over
    with pool.progress_to(fractions.put_nowait) as token:
        args = (str(src), str(scratch_dir / "out"), ladder_settings, token, verdict["probe"])
        try:
            future = asyncio.get_running_loop().run_in_executor(pool, process_media, *args)
        except BrokenProcessPool:
            deps.reset_pool()
            raise
        future.add_done_callback(lambda _: fractions.put_nowait(None))
        started = time.monotonic()
        shown = 0.0
        try:
            while (fraction := await fractions.get()) is not None:
                percent = min(max(fraction * 99.0, 0.0), 99.0)  # 100 only when published
                if percent >= shown + 1.0 and not future.done():
                    shown = percent
                    await _show_progress(deps, claimed, percent)
            outcome = future.result()
            if "error" not in outcome:
                deps.observer.transcoded(time.monotonic() - started, float(verdict["probe"].duration))
            return outcome
        except BrokenProcessPool:
            deps.reset_pool()
            raise
        finally:
            if not future.done():  # cancelled (timeout, shutdown): the worker stops at its next report
                pool.cancel(token)
                future.cancel()


async def _show_progress(deps: Deps, claimed: MediaRecord, percent: float) -> None:
    """Progress is news, not state: while Redis is away (a restart, a failover) the transcode goes
    on, and the next percent that gets through tells watchers where it is."""
    try:
        await update(deps.records, claimed.upload_id, _progress(claimed.attempt, percent))
    except StorageUnavailable as exc:
        log.warning("progress_not_saved", upload_id=claimed.upload_id, progress=round(percent, 1), error=str(exc))


def _claim(upload_id: str, attempt: str, job_id: str, job_try: int) -> Any:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is not None and current.state in (MediaState.READY, MediaState.STORED):
            return None
        base = current or MediaRecord(upload_id=upload_id)
        return base.evolve(
            state=MediaState.PROCESSING, progress=0.0, reason="", attempt=attempt, job_id=job_id, tries=job_try
        )

    return change


def _progress(attempt: str, percent: float) -> Any:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is None or current.attempt != attempt or current.state is not MediaState.PROCESSING:
            return None  # a newer attempt owns the record now: stay quiet
        return current.evolve(progress=round(percent, 1))

    return change


async def mark_stored(deps: Deps, upload_id: str, reason: str) -> MediaRecord | None:
    """Final for a file that is no media: kept in the upload store as it is (no encrypted
    original, no outputs); GET on the tus URL serves it from there."""

    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is not None and current.state in (MediaState.READY, MediaState.STORED):
            return None
        base = current or MediaRecord(upload_id=upload_id)
        return base.evolve(state=MediaState.STORED, progress=100.0, reason=reason, kind="file")

    return await update(deps.records, upload_id, change) or await deps.records.get(upload_id)


async def mark_retrying(deps: Deps, upload_id: str, next_try: int, reason: str) -> None:
    """The record while the job waits for its next try. Best effort: a job that cannot reach its
    records is retried all the same (and the watchdog's audit puts the record right)."""

    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is not None and current.state.terminal:
            return None
        base = current or MediaRecord(upload_id=upload_id)
        return base.evolve(state=MediaState.RETRYING, tries=next_try, progress=0.0, reason=reason)

    try:
        await update(deps.records, upload_id, change)
    except StorageUnavailable as exc:
        log.warning("retry_not_saved", upload_id=upload_id, next_try=next_try, error=str(exc))


async def mark_failed(deps: Deps, upload_id: str, reason: str) -> MediaRecord | None:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is not None and current.state in (MediaState.READY, MediaState.STORED):
            return None
        return (current or MediaRecord(upload_id=upload_id)).evolve(state=MediaState.FAILED, reason=reason)

    # A duplicate that published first wins over our failure (it may even have dropped the
    # source we were reading): answer with its ready record.
    return await update(deps.records, upload_id, change) or await deps.records.get(upload_id)


def _classify(exc: BaseException) -> Exception:
    if is_transient(exc):
        return TransientError(f"{type(exc).__name__}: {exc}")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
