"""UploadInfo: everything a store keeps about one upload, as plain JSON-able data."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .headers import Metadata, stored_metadata


class UploadState(enum.StrEnum):
    """Lifecycle. Each step is durable so a crash between two of them is retried, never lost.

    receiving -> completing (all bytes stored, assembling the object)
              -> completed (object verified) -> handed_off (processing job enqueued)
    """

    RECEIVING = "receiving"
    COMPLETING = "completing"
    COMPLETED = "completed"
    HANDED_OFF = "handed_off"

    @property
    def finished(self) -> bool:
        """The object is assembled and verified: its parts are no longer needed, and it does not expire."""
        return self in (UploadState.COMPLETED, UploadState.HANDED_OFF)


@dataclass
class UploadInfo:
    id: str
    size: int | None  # None while the length is deferred
    offset: int = 0
    metadata: str = ""  # Upload-Metadata exactly as the client sent it
    is_partial: bool = False
    is_final: bool = False
    concat: str = ""  # Upload-Concat exactly as the client sent it
    partial_ids: list[str] = field(default_factory=list)
    owner: str = ""  # empty until authentication exists
    created_at: float = 0.0
    expires_at: float | None = None
    state: UploadState = UploadState.RECEIVING
    storage: dict[str, str] = field(default_factory=dict)  # store-specific location
    # Processing dropped the plaintext bytes at rest (``DiscardableUpload.discard``): the upload is
    # complete, but its store no longer holds what was sent; only a kept original can serve them.
    discarded: bool = False

    @property
    def size_is_deferred(self) -> bool:
        return self.size is None

    @property
    def is_complete(self) -> bool:
        return self.size is not None and self.offset == self.size

    @property
    def is_finished_file(self) -> bool:
        """A file that counts for processing: complete, and not a partial of a concatenation."""
        return self.is_complete and not self.is_partial

    def meta(self) -> Metadata:
        """Decoded metadata; lenient (``stored_metadata``): reads of an upload never fail on it."""
        return stored_metadata(self.metadata) if self.metadata else Metadata()

    def __copy__(self) -> UploadInfo:
        # copied several times per request, so not through copy.copy's generic __reduce_ex__ path
        # (docs/benchmarks.md); shallow, as copy.copy is: the containers are only ever replaced,
        # never changed in place
        new = object.__new__(UploadInfo)
        new.__dict__.update(self.__dict__)
        return new

    def to_dict(self) -> dict[str, Any]:
        # by hand: it runs several times per upload, and dataclasses.asdict deep-copies field by
        # field (docs/benchmarks.md); the containers are copied so the dict shares nothing
        data = dict(self.__dict__)
        data["partial_ids"] = list(self.partial_ids)
        data["storage"] = dict(self.storage)
        data["state"] = str(self.state)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadInfo:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["state"] = UploadState(known.get("state", UploadState.RECEIVING))
        known["partial_ids"] = list(known.get("partial_ids", []))
        known["storage"] = dict(known.get("storage", {}))
        return cls(**known)
