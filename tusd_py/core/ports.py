"""The contracts the protocol core needs from the outside world.

Stores, lockers and completion sinks implement these Protocols; the service and the web
layer only ever see these types. Concrete classes are named in ``app.py`` only.

The store contract follows tusd's ``DataStore`` and its extension interfaces: a small core
that every store implements (``Store`` creates and finds uploads and has a lifecycle;
``Upload`` reads its info, writes a chunk, records its state and finishes), plus one small
Protocol per optional capability. A store offers a capability by implementing the store side
(``Terminater.as_terminatable_upload``...), which hands back a view of one of its uploads with
the extra method. ``core/composer.StoreComposer`` collects what a store offers once, at start,
and ``Tus-Extension`` follows from it.

=====================  =======================  =========================================
capability (store)     upload view              what it gives
=====================  =======================  =========================================
``Terminater``         ``TerminatableUpload``   termination (DELETE), removal on expiry
``Concater``           (store only)             concatenation
``LengthDeferrer``     ``LengthDeclarable...``  creation-defer-length
``Expirer``            ``ExpiringUpload``       expiration (with ``Terminater``)
``RangeReader``        ``ReadableUpload``       GET of a finished upload, processing's source
``PlaintextDiscarder`` ``DiscardableUpload``    dropping a processed upload's plaintext bytes
``UploadLister``       (store only)             the sweeper's walk over live uploads
=====================  =======================  =========================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol, runtime_checkable

from ..protocol.info import UploadInfo, UploadState

TombstoneReason = Literal["terminated", "expired"]


class Body(Protocol):
    """A request body as the store sees it: chunks until the body ends.

    Network trouble (reset, timeout, early EOF) and lock-release requests end the
    iteration *normally*: the store keeps every byte it was given (tusd's rule).
    Only a protocol violation (more bytes than allowed) raises out of the iteration,
    and then the store must leave the upload exactly as it was before the call.
    """

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class RequestBody(Body, Protocol):
    """The body of one PATCH/POST, with what the service needs to know about how it ended."""

    declared_length: int | None  # Content-Length, None for a chunked body
    limit: int | None  # more bytes than this -> UploadSizeExceeded raised from the iteration
    stopped: bool  # ended because the lock holder was asked to release
    error: str | None  # ended by a reset, early EOF or read timeout

    def stop(self) -> None:
        """End the iteration at the next chunk boundary (lock release)."""

    async def has_data(self) -> bool:
        """Whether at least one byte arrives (used when the upload is already complete)."""


# -- the core: every store ----------------------------------------------------------------------
class Upload(Protocol):
    # True where finish() assembles something outside this process (S3: CompleteMultipartUpload),
    # which a crash can interrupt: the state machine then records ``completing`` first. False
    # where finish() only checks what is stored (file, memory): ``receiving`` with every byte
    # stored already says all that ``completing`` would, and the write would cost a commit.
    assembles: bool

    async def get_info(self) -> UploadInfo:
        """Fresh info; ``offset`` is the number of bytes durably stored."""

    async def write_chunk(self, offset: int, body: Body) -> int:
        """Append ``body`` at ``offset`` (== the current offset); return the bytes stored, so
        that ``offset`` plus the result is what ``get_info()`` reports next."""

    async def set_state(self, state: UploadState) -> None:
        """Persist a step of the completion state machine (core/finishing.py), so that a crash
        never hands an upload off twice. A finished state (COMPLETED, HANDED_OFF) also ends the
        expiry: ``expires_at`` becomes None in the same write, as finished files do not expire."""

    async def finish(self) -> None:
        """Assemble the final object once every byte is stored. Idempotent."""


class Store(Protocol):
    name: str
    max_upload_size: int  # the store's own ceiling (S3: 5 TiB)

    async def start(self) -> None:
        """Open what the store needs (SDK clients) before the first request."""

    async def close(self) -> None:
        """Release what ``start`` (or the constructor) opened."""

    async def create_upload(self, info: UploadInfo) -> Upload: ...

    async def get_upload(self, upload_id: str) -> Upload:
        """Raise UploadNotFound for unknown ids and UploadGone (with the tombstone's owner) for tombstoned ones."""


# -- optional capabilities: one Protocol each ---------------------------------------------------
# The ``as_*`` methods take an upload this store returned and give it back as the view
# (tusd's ``AsTerminatableUpload``); they are cheap and never touch storage.
class TerminatableUpload(Protocol):
    async def terminate(self, reason: TombstoneReason) -> None:
        """Free every resource and leave a tombstone that records the upload's owner, so later
        requests get 410 (``UploadGone`` with that ``owner``: core/ownership.py tells anyone else 404)."""


@runtime_checkable
class Terminater(Protocol):
    """termination: DELETE, and the removal of expired uploads."""

    def as_terminatable_upload(self, upload: Upload) -> TerminatableUpload: ...

    async def purge_tombstones(self, older_than: float) -> int:
        """Forget tombstones written before ``older_than``; later requests then get 404."""


@runtime_checkable
class Concater(Protocol):
    """concatenation: a final upload made of finished partial uploads."""

    async def concat(self, final: Upload, partials: list[Upload]) -> None:
        """Write the partials' bytes, in order, as the content of ``final``."""


class LengthDeclarableUpload(Protocol):
    async def declare_length(self, length: int) -> None:
        """Fix the size of a deferred-length upload."""


@runtime_checkable
class LengthDeferrer(Protocol):
    """creation-defer-length: uploads created without a length, which a later PATCH declares."""

    def as_length_declarable_upload(self, upload: Upload) -> LengthDeclarableUpload: ...


class ExpiringUpload(Protocol):
    async def set_expiry(self, expires_at: float | None) -> None: ...


@runtime_checkable
class Expirer(Protocol):
    """expiration: an unfinished upload's ``Upload-Expires`` is stored and slides with each PATCH."""

    def as_expiring_upload(self, upload: Upload) -> ExpiringUpload: ...


class ReadableUpload(Protocol):
    def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of a complete upload."""


@runtime_checkable
class RangeReader(Protocol):
    """Ranged reads of a finished upload: GET downloads and processing's source."""

    def as_readable_upload(self, upload: Upload) -> ReadableUpload: ...


class DiscardableUpload(Protocol):
    async def discard(self) -> None:
        """Drop the stored bytes of a complete upload but keep the upload: HEAD still answers
        complete. Processing calls it once an encrypted copy replaces the plaintext. Idempotent.
        (Not a lock release: the bytes at rest go, the upload stays.)"""


@runtime_checkable
class PlaintextDiscarder(Protocol):
    """Dropping a processed upload's plaintext bytes at rest."""

    def as_discardable_upload(self, upload: Upload) -> DiscardableUpload: ...


@runtime_checkable
class UploadLister(Protocol):
    """The sweeper's walk: expiry, stuck completions and hand-offs."""

    def list_upload_ids(self) -> AsyncIterator[str]:
        """Every live upload. Order is unspecified."""


# -- locks and the hand-off ---------------------------------------------------------------------
class Lock(Protocol):
    def on_release_request(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when another request wants this lock or the lock was lost."""

    @property
    def release_requested(self) -> bool: ...


class Locker(Protocol):
    def lock(self, upload_id: str, *, timeout: float) -> AbstractAsyncContextManager[Lock]:
        """Exclusive per-upload lock. A waiter asks the holder to release, then waits at
        most ``timeout`` seconds and raises UploadLocked (423) if it still cannot have it."""

    async def close(self) -> None:
        """Stop what the locker runs in the background (Redis: its pub/sub listener)."""


class CompletionSink(Protocol):
    async def upload_finished(self, info: UploadInfo) -> None:
        """Hand a finished file to processing. Idempotent, keyed by ``info.id``."""
