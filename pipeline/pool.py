"""The process pool of media jobs, and the channel between a job and the pool worker running it.

A job's ``work.process_media`` runs in a pool worker for minutes. Meanwhile the job needs its
progress (for the record and SSE), and the worker needs to hear that the job gave up (timeout,
shutdown, the upload deleted). Both travel through objects the pool hands to every worker it
spawns, through its initializer:

* **progress**, worker -> job: one pipe per pool. A message is ``(token, fraction)``, a few dozen
  bytes; a pipe write under ``PIPE_BUF`` is atomic, so the workers share the write end without a
  lock, and a worker killed mid-write leaves neither a lock held nor half a message. One thread
  per pool reads the pipe and hands each fraction to the event loop of the job owning the token.
* **cancellation**, job -> worker: one shared array of ``SLOTS`` integers per pool. Cancelling
  token ``t`` writes ``t`` into slot ``t % SLOTS``, and the worker compares that slot with its
  token each time it reports progress: only its own token stops it, so a slot shared with
  another token never stops the wrong call. The job is the only writer, so no lock either.

Neither needs a process of its own (as a ``multiprocessing.Manager`` would) nor a file. A worker
killed outright is the pool's own business: the job's future fails with ``BrokenProcessPool``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

SLOTS = 1024
_MIN_STEP = 0.005  # fractions closer than this to the last one sent are not worth a message


class Cancelled(Exception):
    """The job that wanted this result is gone."""


class JobPool(ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` whose workers can report progress to, and be cancelled by, the
    job that submitted the call: ``with pool.progress_to(callback) as token``, then pass
    ``token`` to the function, which sends through :func:`progress_sender`."""

    def __init__(
        self,
        max_workers: int,
        *,
        mp_context: BaseContext,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self._inbox, self._outbox = mp_context.Pipe(duplex=False)
        self._cancelled: Any = mp_context.Array("Q", SLOTS, lock=False)
        self._listeners: dict[int, tuple[asyncio.AbstractEventLoop, Callable[[float], None]]] = {}
        self._tokens = itertools.count(1)
        self._reader: threading.Thread | None = None
        self._guard = threading.Lock()  # starting and stopping the reader thread
        self._stopped = False
        super().__init__(
            max_workers,
            mp_context=mp_context,
            initializer=_join_channel,
            initargs=(self._outbox, self._cancelled, initializer, initargs),
        )

    @contextlib.contextmanager
    def progress_to(self, callback: Callable[[float], None]) -> Iterator[int]:
        """A token for one call: each fraction its worker sends reaches ``callback`` in the
        running event loop, until the block ends."""
        loop = asyncio.get_running_loop()
        token = next(self._tokens)
        self._listeners[token] = (loop, callback)
        self._start_reader()
        try:
            yield token
        finally:
            self._listeners.pop(token, None)

    def cancel(self, token: int) -> None:
        """Tell the worker running ``token``'s call (or about to) to stop at its next report."""
        self._cancelled[token % SLOTS] = token

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        with self._guard:
            if self._stopped:
                return
            self._stopped = True
            if self._reader is not None:
                self._outbox.send(None)  # behind every message already sent: the reader ends
                self._reader.join()
            self._inbox.close()
            self._outbox.close()

    def _start_reader(self) -> None:
        with self._guard:
            if self._reader is None and not self._stopped:
                self._reader = threading.Thread(target=self._read, name="job-pool-progress", daemon=True)
                self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                message = self._inbox.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            token, fraction = message
            listener = self._listeners.get(token)
            if listener is not None:
                loop, callback = listener
                with contextlib.suppress(RuntimeError):  # that job's event loop is closed
                    loop.call_soon_threadsafe(callback, fraction)


# In a pool worker: its ends of the channel, set by the pool's initializer.
_outbox: Connection | None = None
_cancelled: Any = None


def _join_channel(
    outbox: Connection, cancelled: Any, initializer: Callable[..., object] | None, initargs: tuple[Any, ...]
) -> None:
    global _outbox, _cancelled
    _outbox, _cancelled = outbox, cancelled
    if initializer is not None:
        initializer(*initargs)


def progress_sender(token: int | None) -> Callable[[float], None]:
    """In a pool worker: a callback taking the fraction done (0..1) of ``token``'s call. It sends
    each step of at least half a percent, and raises :class:`Cancelled` once the job cancelled
    the call. Outside a ``JobPool`` worker, or without a token, it does nothing."""
    outbox, cancelled = _outbox, _cancelled
    if token is None or outbox is None:
        return lambda fraction: None
    last = -1.0

    def send(fraction: float) -> None:
        nonlocal last
        if cancelled[token % SLOTS] == token:
            raise Cancelled("the job was cancelled")
        if fraction - last >= _MIN_STEP or fraction >= 1.0:
            last = fraction
            with contextlib.suppress(OSError):  # the pool is shutting down: nobody reads
                outbox.send((token, fraction))

    return send
