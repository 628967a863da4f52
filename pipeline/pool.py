"""The process pool of media jobs, and the channel between a job and the pool worker running it.

A job's ``work.process_media`` runs in a pool worker for minutes. Meanwhile the job needs its
progress (for the record and SSE), and the worker needs to hear that the job gave up (its
timeout, the worker shutting down). Both travel through objects the pool hands to every worker
it spawns, through its initializer:

* **progress**, worker -> job: one pipe per pool. A message is ``(token, fraction)``, a few dozen
  bytes; a pipe write under ``PIPE_BUF`` is atomic, so the workers share the write end without a
  lock, and a worker killed mid-write leaves neither a lock held nor half a message. One thread
  per pool reads the pipe and hands each fraction to the event loop of the job owning the token.
* **cancellation**, job -> worker: one shared array of ``CANCEL_SLOTS`` integers per pool.
  Cancelling token ``t`` writes ``t`` into slot ``t % CANCEL_SLOTS``, and the worker compares
  that slot with its token each time it reports progress: only its own token stops it, so a
  slot shared with another token never stops the wrong call. The job is the only writer, so no
  lock either.

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

CANCEL_SLOTS = 1024
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
        self._progress_read, self._progress_write = mp_context.Pipe(duplex=False)
        self._cancelled: Any = mp_context.Array("Q", CANCEL_SLOTS, lock=False)
        self._listeners: dict[int, tuple[asyncio.AbstractEventLoop, Callable[[float], None]]] = {}
        self._tokens = itertools.count(1)
        self._dispatcher: threading.Thread | None = None
        self._guard = threading.Lock()  # starting and stopping the dispatcher thread
        self._stopped = False
        super().__init__(
            max_workers,
            mp_context=mp_context,
            initializer=_join_channel,
            initargs=(self._progress_write, self._cancelled, initializer, initargs),
        )

    @contextlib.contextmanager
    def progress_to(self, callback: Callable[[float], None]) -> Iterator[int]:
        """A token for one call: each fraction its worker sends reaches ``callback`` in the
        running event loop, until the block ends."""
        loop = asyncio.get_running_loop()
        token = next(self._tokens)
        self._listeners[token] = (loop, callback)
        self._start_dispatcher()
        try:
            yield token
        finally:
            self._listeners.pop(token, None)

    def cancel(self, token: int) -> None:
        """Tell the worker running ``token``'s call (or about to) to stop at its next report."""
        self._cancelled[token % CANCEL_SLOTS] = token

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        with self._guard:
            if self._stopped:
                return
            self._stopped = True
            if self._dispatcher is not None:
                self._progress_write.send(None)  # behind every message already sent: the dispatcher ends
                self._dispatcher.join()
            self._progress_read.close()
            self._progress_write.close()

    def _start_dispatcher(self) -> None:
        with self._guard:
            if self._dispatcher is None and not self._stopped:
                self._dispatcher = threading.Thread(target=self._dispatch, name="job-pool-progress", daemon=True)
                self._dispatcher.start()

    def _dispatch(self) -> None:
        while True:
            try:
                message = self._progress_read.recv()
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
_progress_write: Connection | None = None
_cancelled: Any = None


def _join_channel(
    progress_write: Connection, cancelled: Any, initializer: Callable[..., object] | None, initargs: tuple[Any, ...]
) -> None:
    global _progress_write, _cancelled
    _progress_write, _cancelled = progress_write, cancelled
    if initializer is not None:
        initializer(*initargs)


def progress_sender(token: int | None) -> Callable[[float], None]:
    """In a pool worker: a callback taking the fraction done (0..1) of ``token``'s call. It sends
    each step of at least half a percent, and raises :class:`Cancelled` once the job cancelled
    the call. Outside a ``JobPool`` worker, or without a token, it does nothing."""
    progress_write, cancelled = _progress_write, _cancelled
    if token is None or progress_write is None:
        return lambda fraction: None
    last = -1.0

    def send(fraction: float) -> None:
        nonlocal last
        if cancelled[token % CANCEL_SLOTS] == token:
            raise Cancelled("the job was cancelled")
        if fraction - last >= _MIN_STEP or fraction >= 1.0:
            last = fraction
            with contextlib.suppress(OSError):  # the pool is shutting down: nobody reads
                progress_write.send((token, fraction))

    return send
