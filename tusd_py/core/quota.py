"""Per-owner quotas: bytes held and unfinished uploads, asked of the catalogue before a byte is stored.

Only uploads with an owner count (an open server has none, and no quotas). Bytes held are the
declared sizes of the owner's uploads (``Usage.bytes_held``), so an upload is charged its whole
length when it is created or its length declared, not byte by byte: a PATCH then needs no
accounting. A deferred-length upload is charged what it holds until it declares its length.
Two creations racing for the last bytes of a quota may both pass: the check is a read, not a
reservation, and the overshoot is at most one upload per concurrent request.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol.errors import QuotaExceeded
from .catalogue import Catalogue, Usage


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    scaled = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if scaled < 1024:
            return f"{scaled:.1f} {unit}"
        scaled /= 1024
    return f"{scaled:.1f} TiB"


@dataclass(frozen=True)
class Quota:
    catalogue: Catalogue
    max_bytes: int = 0  # 0 = no byte quota
    max_in_flight: int = 0  # 0 = no limit on unfinished uploads

    @property
    def active(self) -> bool:
        return bool(self.max_bytes or self.max_in_flight)

    async def _usage(self, owner: str) -> Usage | None:
        if not owner or not self.active:
            return None
        return await self.catalogue.usage(owner)

    def _check_bytes(self, usage: Usage, adding: int) -> None:
        if not self.max_bytes:
            return
        if usage.bytes_held > self.max_bytes:
            raise QuotaExceeded(
                f"storage quota exceeded: {_size(usage.bytes_held)} held, the quota is {_size(self.max_bytes)}; "
                "delete uploads to make room"
            )
        if usage.bytes_held + adding > self.max_bytes:
            raise QuotaExceeded(
                f"storage quota exceeded: {_size(adding)} asked, {_size(self.max_bytes - usage.bytes_held)} left "
                f"of {_size(self.max_bytes)}; delete uploads to make room"
            )

    async def admit_upload(self, owner: str, length: int | None, *, in_flight: bool) -> None:
        """A new upload of ``length`` bytes (None: deferred); ``in_flight`` unless complete at creation."""
        usage = await self._usage(owner)
        if usage is None:
            return
        if in_flight and self.max_in_flight and usage.uploads_in_flight >= self.max_in_flight:
            raise QuotaExceeded(
                f"too many unfinished uploads: {usage.uploads_in_flight} of {self.max_in_flight}; "
                "finish or delete one first"
            )
        self._check_bytes(usage, length or 0)

    async def admit_length(self, owner: str, length: int) -> None:
        """A deferred upload declares its ``length`` (not yet counted in the usage)."""
        if (usage := await self._usage(owner)) is not None:
            self._check_bytes(usage, length)

    async def room_for_body(self, owner: str, *, size: int | None, offset: int, body: int | None) -> int | None:
        """Before a PATCH stores anything: refuse an owner already over the byte quota. An upload of
        declared ``size`` is already counted; a deferred one is charged its ``offset`` and the body's
        declared length (``body``), and the bytes it may still take are returned (None: no cap)."""
        if not self.max_bytes or (usage := await self._usage(owner)) is None:
            return None
        if size is not None:
            self._check_bytes(usage, 0)
            return None
        self._check_bytes(usage, offset + (body or 0))
        return self.max_bytes - usage.bytes_held - offset
