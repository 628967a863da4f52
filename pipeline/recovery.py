"""Liveness of running jobs, and jobs found again: no record state without a fact behind it.

arq marks a running job with ``arq:in-progress:<job id>``, which lives for the longest job
(``TUSD_JOB_TIMEOUT`` + 70 s, over an hour by default): a worker killed mid-job leaves a key that
keeps every other worker away from the job for that long. So liveness comes from elsewhere:

``media:heartbeat:<upload id>``
    Set and renewed by the running job (``heartbeat.Heartbeat``), deleted when the job ends.

``Recovery.scan`` (the watchdog: each worker at its start and every beat, each server's sweeper
every sweep) finds the in-progress keys without a heartbeat. A record that says ``processing``
without a heartbeat is a dead job at once (the job beats before it claims); any other record
gets one beat of grace (arq writes its key a moment before the job's first beat). A dead job's
record becomes ``retrying`` with the next try's number, then one Lua script deletes the stale
in-progress key if the heartbeat is still absent: the job, still in arq's queue, runs again at
the next poll of any worker, with arq's try counter. After the last try it is ``failed``.

``Recovery.audit`` (the sweeper, for each handed-off upload; the worker's start, for all of them)
checks that a record that is not final has a job behind it: no job key and no in-progress key
(a Redis flush, a restart from an old snapshot, a crash between two writes) means the job is
written again, as arq's ``enqueue_job`` writes it, by a script that refuses when a job exists.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from .contract import JOB_PROCESS_UPLOAD, MediaRecord, MediaState, job_id
from .heartbeat import heartbeat_key, redis_errors
from .records import MediaRecords, update
from .settings import PipelineSettings

log = structlog.get_logger("pipeline.recovery")


# An idle pooled connection is PINGed before its next command after this long: a Redis that
# restarted (or a NAT that dropped the flow) is found at once, not after a command's timeout.
HEALTH_CHECK_INTERVAL = 30


def redis_client(url: str, *, timeout: float) -> Any:
    """An ``ArqRedis`` (a ``redis.asyncio.Redis``) whose connects and commands give up after
    ``timeout`` seconds (``TUSD_REDIS_TIMEOUT``): a Redis that accepts connections and never
    answers is a ``TimeoutError`` (503, or a retry), never a request that hangs. Long reads of
    pub/sub messages pass their own timeouts and are not cut by it."""
    from arq.connections import ArqRedis

    return ArqRedis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=HEALTH_CHECK_INTERVAL
    )


# KEYS: in-progress, heartbeat, job, retry counter, queue. ARGV: job id, 'retry' or 'drop'.
# Only a job still without a heartbeat is released: 'retry' frees it for the next poll of any
# worker (it is still in the queue), 'drop' removes it (its last try is over, or it is done).
# 1: released; 0: it beats after all; -1: released already (another watchdog was first).
_RELEASE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('DEL', KEYS[1])
if ARGV[2] == 'drop' then
  redis.call('DEL', KEYS[3], KEYS[4])
  redis.call('ZREM', KEYS[5], ARGV[1])
end
return 1
"""

# KEYS: job, in-progress, result, retry counter, queue. ARGV: now ms, job expiry ms, job, job id.
# As arq's enqueue_job writes a job, but only when none exists; a stale result goes first.
_REQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('PSETEX', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[4])
return 1
"""


class Recovery:
    """The watchdog and the audit over one Redis (an ``ArqRedis``) and the media records."""

    def __init__(self, redis: Any, records: MediaRecords, settings: PipelineSettings) -> None:
        from arq.constants import default_queue_name, expires_extra_ms

        self.redis, self.records, self.settings = redis, records, settings
        self.queue_name: str = getattr(redis, "default_queue_name", default_queue_name)
        self.expires_ms: int = getattr(redis, "expires_extra_ms", expires_extra_ms)
        self.suspects: dict[str, float] = {}  # upload id -> when first seen in progress without a beat
        self._release = redis.register_script(_RELEASE)
        self._requeue = redis.register_script(_REQUEUE)

    @staticmethod
    def _keys(upload_id: str) -> dict[str, str]:
        from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix

        jid = job_id(upload_id)
        return {
            "job": job_key_prefix + jid,
            "in_progress": in_progress_key_prefix + jid,
            "result": result_key_prefix + jid,
            "retry": retry_key_prefix + jid,
        }

    # -- the watchdog -------------------------------------------------------------------------
    async def scan(self) -> int:
        """One round over every job in progress; the number of dead jobs released."""
        from arq.constants import in_progress_key_prefix

        prefix = in_progress_key_prefix + job_id("")
        seen: set[str] = set()
        released = 0
        async for key in self.redis.scan_iter(match=prefix + "*", count=500):
            upload_id = (key.decode() if isinstance(key, bytes) else str(key))[len(prefix) :]
            seen.add(upload_id)
            try:
                released += await self.check_running(upload_id)
            except redis_errors() as exc:
                log.warning("watchdog_skipped", upload_id=upload_id, error=str(exc))
        for gone in set(self.suspects) - seen:
            del self.suspects[gone]
        return released

    async def check_running(self, upload_id: str, record: MediaRecord | None = None) -> int:
        """A job arq holds in progress: 1 if it was dead and is released, else 0."""
        if await self.redis.exists(heartbeat_key(upload_id)):
            self.suspects.pop(upload_id, None)
            return 0
        record = record or await self.records.get(upload_id)
        now = time.monotonic()
        if record is not None and record.state.terminal:
            # Done, but arq's own bookkeeping did not happen (Redis went away as the job ended).
            # A ready asset whose plaintext source is still there runs once more, to drop it.
            left = record.state is MediaState.READY and record.original and not record.source_dropped
            return max(await self._release_job(upload_id, "retry" if left else "drop"), 0)
        if record is None or record.state is not MediaState.PROCESSING:
            first = self.suspects.setdefault(upload_id, now)
            if now - first < self.settings.job_heartbeat:
                return 0  # between arq's start of the job and its first beat, or dead: next round says
        self.suspects.pop(upload_id, None)
        return await self._retry_dead(upload_id, record)

    async def _retry_dead(self, upload_id: str, record: MediaRecord | None) -> int:
        # arq's count of the tries it began, the dead one included; the record's own if it was lost
        started = int(await self.redis.get(self._keys(upload_id)["retry"]) or 0)
        dead_try = started or max(record.tries if record else 0, 1)
        ttl = self.settings.heartbeat_ttl
        if dead_try >= self.settings.max_tries:
            reason = f"processing failed after {dead_try} tries: the worker of the last try stopped"
            log.error("job_worker_lost", upload_id=upload_id, job_try=dead_try, retry=False)
            released = await self._release_job(upload_id, "drop")
            if released == 1:
                await update(self.records, upload_id, _failed(upload_id, reason))
            return max(released, 0)
        reason = f"the worker of try {dead_try} stopped (no heartbeat for {ttl:g} s)"
        before = record.attempt if record else ""
        await update(self.records, upload_id, _retrying(upload_id, dead_try + 1, reason))
        released = await self._release_job(upload_id, "retry")
        if released == 1:
            log.warning("job_worker_lost", upload_id=upload_id, job_try=dead_try, next_try=dead_try + 1)
            await self._enqueue(upload_id, dead_try + 1)  # only if the job itself was lost too
        elif released == 0:  # it beat after all: put the record back as it was
            await update(self.records, upload_id, _revived(before))
        return max(released, 0)

    async def _release_job(self, upload_id: str, mode: str) -> int:
        keys = self._keys(upload_id)
        args = [job_id(upload_id), mode]
        redis_keys = [keys["in_progress"], heartbeat_key(upload_id), keys["job"], keys["retry"], self.queue_name]
        return int(await self._release(keys=redis_keys, args=args))

    # -- the audit ----------------------------------------------------------------------------
    async def audit(self, upload_id: str) -> str | None:
        """One handed-off upload: is there a job behind its record? What was repaired, if anything:
        ``requeued`` (no job anywhere: written again), ``retrying`` (a dead job released)."""
        record = await self.records.get(upload_id)
        if record is not None and record.state.terminal:
            return None
        keys = self._keys(upload_id)
        if await self.redis.exists(keys["in_progress"]):
            return "retrying" if await self.check_running(upload_id, record) else None
        if await self.redis.exists(keys["job"]):
            if record is not None and record.state is MediaState.PROCESSING:  # waits for a retry
                await update(self.records, upload_id, _retrying(upload_id, record.tries + 1, record.reason))
            return None
        next_try = 1
        if record is not None:  # a try that was running when its job was lost counts as done
            next_try = max(record.tries + (1 if record.state is MediaState.PROCESSING else 0), 1)
        if await update(self.records, upload_id, _queued(upload_id, next_try)) is None:
            return None  # final meanwhile: its job just ended
        if await self._enqueue(upload_id, next_try):
            log.warning("job_requeued", upload_id=upload_id, job_try=next_try, was=str(record.state) if record else "")
            return "requeued"
        return None

    async def _enqueue(self, upload_id: str, job_try: int) -> bool:
        from arq.jobs import serialize_job

        keys = self._keys(upload_id)
        now_ms = int(time.time() * 1000)
        serializer = getattr(self.redis, "job_serializer", None)
        job = serialize_job(JOB_PROCESS_UPLOAD, (upload_id,), {}, job_try, now_ms, serializer=serializer)
        redis_keys = [keys["job"], keys["in_progress"], keys["result"], keys["retry"], self.queue_name]
        return bool(await self._requeue(keys=redis_keys, args=[now_ms, self.expires_ms, job, job_id(upload_id)]))


def _retrying(upload_id: str, next_try: int, reason: str) -> Any:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is not None and current.state.terminal:
            return None
        if current is not None and current.state is MediaState.RETRYING and current.tries >= next_try:
            return None  # another watchdog said so first
        base = current or MediaRecord(upload_id=upload_id)
        return base.evolve(state=MediaState.RETRYING, tries=next_try, progress=0.0, reason=reason)

    return change


def _revived(attempt: str) -> Any:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is None or current.state is not MediaState.RETRYING or current.attempt != attempt:
            return None
        return current.evolve(state=MediaState.PROCESSING, tries=max(current.tries - 1, 1), reason="")

    return change


def _queued(upload_id: str, job_try: int) -> Any:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is not None and current.state.terminal:
            return None
        base = current or MediaRecord(upload_id=upload_id)
        return base.evolve(state=MediaState.QUEUED, tries=job_try, progress=0.0, reason="")

    return change


def _failed(upload_id: str, reason: str) -> Any:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is not None and current.state.terminal:
            return None
        return (current or MediaRecord(upload_id=upload_id)).evolve(state=MediaState.FAILED, reason=reason)

    return change
