"""Part sizing and the part pipeline of the S3 store.

Sizing (``PartPolicy``), after tus-user-issues A3/A4/A6:

* **Known length.** ``part_size = clamp(max(preferred, ceil(2 * length / max_parts)))`` between the
  minimum part size and 5 GiB. The factor 2 is headroom: full parts use at most half the part
  budget, the other half absorbs short parts cut at interrupted requests.
* **Short parts.** A request that ends with fewer than ``part_size`` buffered bytes uploads them as a
  (short) part only if they are at least the minimum part size *and* the rest of the upload still
  fits the part budget in full parts (``may_cut_short``). Otherwise they become the tail (the
  ``.part`` object) and are carried into the next request. So no upload can run out of parts,
  however often it is interrupted; the price after many interruptions is a larger tail.
* **Uniform parts** (R2): no short parts at all; every non-final part is exactly ``part_size``.
* **Deferred length.** The part size grows with the offset: ``max(preferred, offset * 32 / max_parts)``,
  so a deferred upload can reach the maximum object size within a third of the part budget
  (checked in tests/stores/test_s3_parts.py). With uniform parts a deferred upload uses the fixed
  size planned for the largest allowed upload (``deferred_limit``).

The pipeline (``PartPipeline``) uploads numbered parts concurrently, at most ``in_flight`` per
upload plus a process-wide semaphore, and hands them back strictly in part-number order, so the
committed offset only ever covers a contiguous run of acknowledged parts (A5). A transient
failure of a part is retried by botocore under the same part number (``client.open_client``);
a part that still fails stops the pipeline.
"""

from __future__ import annotations

import asyncio
import bisect
import io
import itertools
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from ...state.records import PartRecord

MiB = 1024 * 1024
S3_MIN_PART_SIZE = 5 * MiB
S3_MAX_PART_SIZE = 5 * 1024 * MiB
S3_MAX_PARTS = 10_000
S3_MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB
GROWING = 0  # part_size of a deferred-length upload: the size follows the offset
_GROWTH = 32


@dataclass(frozen=True)
class PartPolicy:
    preferred: int = 8 * MiB  # the server's TUSD_S3_PART_SIZE default
    min_size: int = S3_MIN_PART_SIZE
    max_size: int = S3_MAX_PART_SIZE
    max_parts: int = S3_MAX_PARTS
    max_object: int = S3_MAX_OBJECT_SIZE
    uniform: bool = False
    deferred_limit: int = 0  # largest deferred upload to plan for with uniform parts; 0 = max_object

    def __post_init__(self) -> None:
        if not 0 < self.min_size <= self.preferred <= self.max_size:
            raise ValueError("part sizes must satisfy 0 < min_size <= preferred <= max_size")
        if self.max_parts < 2:
            raise ValueError("max_parts must be at least 2")

    @property
    def max_upload_size(self) -> int:
        """The largest upload this policy can store (413 above it)."""
        return min(self.max_object, self.max_size * self.max_parts)

    def _clamp(self, size: int) -> int:
        return max(self.min_size, min(self.max_size, size))

    def part_size(self, length: int | None) -> int:
        """The fixed part size of an upload, or ``GROWING`` for a deferred, non-uniform one."""
        if length is None:
            if not self.uniform:
                return GROWING
            length = self.deferred_limit or self.max_upload_size
        return self._clamp(max(self.preferred, math.ceil(2 * length / self.max_parts)))

    def size_at(self, part_size: int, offset: int) -> int:
        """The size of the full part that starts at ``offset``."""
        if part_size != GROWING:
            return part_size
        return self._clamp(max(self.preferred, math.ceil(offset * _GROWTH / self.max_parts)))

    def parts_needed(self, part_size: int, start: int, end: int) -> int:
        """Full parts needed to carry bytes ``start`` to ``end``."""
        if part_size != GROWING:
            return math.ceil(max(0, end - start) / part_size)
        count = 0
        while start < end:
            start += self.size_at(GROWING, start)
            count += 1
        return count

    def may_cut_short(self, *, part_size: int, length: int | None, parts_used: int, start: int, size: int) -> bool:
        """Whether ``size`` buffered bytes at ``start`` may go up as a short part at a request's end."""
        if self.uniform or size < self.min_size:
            return False
        target = length if length is not None else self.max_upload_size
        return parts_used + 1 + self.parts_needed(part_size, start + size, target) <= self.max_parts


class PartBuffer:
    """The bytes of one part as the body delivered them: views of the received chunks, never
    copied. Sized like a buffer (``len``); ``bytes()`` joins it when one contiguous copy is needed."""

    def __init__(self, data: bytes = b"") -> None:
        self.views: list[memoryview] = []
        self.size = 0
        if data:
            self.append(memoryview(data))

    def append(self, view: memoryview) -> None:
        if view:
            self.views.append(view)
            self.size += len(view)

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.views)


class PartStream:
    """A part as an upload body: a seekable file to botocore (length, payload hash, retries)
    and an async iterable of the part's own views to aiohttp, which then sends them without a
    copy and without a thread hop (for a file object it reads 64 KiB at a time in a thread).
    It is deliberately not an ``io.IOBase``: aiohttp would treat it as a file."""

    def __init__(self, part: PartBuffer | bytes | bytearray) -> None:
        if not isinstance(part, PartBuffer):
            part = PartBuffer(bytes(part))
        self._views = part.views
        self._starts = list(itertools.accumulate((len(v) for v in self._views), initial=0))
        self._size = part.size
        self._pos = 0

    def __len__(self) -> int:
        return self._size - self._pos

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        return self._pos

    def _views_between(self, start: int, end: int) -> Iterator[memoryview]:
        index = bisect.bisect_right(self._starts, start) - 1
        while start < end:
            view = self._views[index]
            at = start - self._starts[index]
            take = min(len(view) - at, end - start)
            yield view[at : at + take]
            start += take
            index += 1

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        data = b"".join(self._views_between(self._pos, end))
        self._pos = max(self._pos, end)
        return data

    async def __aiter__(self) -> AsyncIterator[memoryview]:
        start, self._pos = self._pos, self._size
        for view in self._views_between(start, self._size):
            yield view


Sender = Callable[[int, PartBuffer], Awaitable[str]]  # (part number, bytes) -> ETag
Committer = Callable[[list[PartRecord]], Awaitable[None]]


class PartFailed(Exception):
    """A part could not be stored after its retries; the pipeline stops taking parts."""


class PartPipeline:
    """Concurrent part uploads with backpressure, committed in order through ``commit``."""

    def __init__(
        self,
        send: Sender,
        commit: Committer,
        *,
        first_number: int,
        in_flight: int,
        slots: asyncio.Semaphore,
    ) -> None:
        self._send, self._commit_fn = send, commit
        self._in_flight, self._slots = in_flight, slots
        self._running: dict[int, asyncio.Task[PartRecord]] = {}
        self._done: dict[int, PartRecord] = {}
        self.next_number = first_number
        self._next_commit = first_number
        self.failure: BaseException | None = None

    async def submit(self, data: PartBuffer) -> None:
        """Queue one part; waits while ``in_flight`` parts are running (backpressure on the body)."""
        while len(self._running) >= self._in_flight and self.failure is None:
            await self._wait(asyncio.FIRST_COMPLETED)
        if self.failure is not None:
            raise PartFailed from self.failure
        number = self.next_number
        self.next_number += 1
        self._running[number] = asyncio.create_task(self._upload(number, data), name=f"s3-part-{number}")

    async def _upload(self, number: int, data: PartBuffer) -> PartRecord:
        async with self._slots:
            etag = await self._send(number, data)
        return PartRecord(number, len(data), etag)

    async def _wait(self, when: str) -> None:
        done, _ = await asyncio.wait(self._running.values(), return_when=when)
        for task in done:
            number = int(task.get_name().rsplit("-", 1)[1])
            del self._running[number]
            if task.cancelled():
                continue
            if (exc := task.exception()) is not None:
                self.failure = self.failure or exc
                self._cancel_after(number)
            else:
                self._done[number] = task.result()
        ready: list[PartRecord] = []
        while self._next_commit in self._done:
            ready.append(self._done.pop(self._next_commit))
            self._next_commit += 1
        if ready:
            await self._commit_fn(ready)

    def _cancel_after(self, number: int) -> None:
        """Parts after a failed one can never be committed: stop sending them."""
        for later, task in self._running.items():
            if later > number:
                task.cancel()

    async def close(self) -> None:
        """Wait for every running part and commit the contiguous run; raise if a part failed."""
        while self._running:
            await self._wait(asyncio.ALL_COMPLETED)
        if self.failure is not None:
            raise PartFailed from self.failure

    async def abort(self) -> None:
        """Cancel everything still running; nothing more is committed."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()
