"""What the web process and the worker agree on. Pure: pydantic only (no av, no arq, no aiohttp).

A ``MediaRecord`` is the processing state of one upload, and once ready, the index of its
encrypted outputs and its wrapped data key (docs/encryption.md). It is written only by the job (and by
the publish step, which switches it to ``ready``), read by ``GET /media/{id}``, and versioned:
every write is a compare-and-set on ``version``, so two runs of the same job cannot both win.

    queued -> processing -> ready
                         -> stored   (not a media file: kept as it is, nothing to transcode)
                         -> failed   (broken media: at once; transient errors: after the last try)
                         -> retrying -> processing ...  (a transient error, or the worker died)
"""

from __future__ import annotations

import enum
import time
from typing import Any

from pydantic import BaseModel, Field

JOB_PROCESS_UPLOAD = "process_upload"
MEDIA_PREFIX = "media/"  # every output lives below this key prefix (data_dir/media/, s3://bucket/media/)


def job_id(upload_id: str) -> str:
    """arq refuses a second job with the same id while the first exists: one job per upload."""
    return f"{JOB_PROCESS_UPLOAD}:{upload_id}"


class MediaState(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    RETRYING = "retrying"  # waiting for its next try (``tries``): a transient error, or its worker died
    READY = "ready"
    STORED = "stored"  # not media: the upload is kept as a plain file, served as it is
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (MediaState.READY, MediaState.STORED, MediaState.FAILED)


class RenditionInfo(BaseModel):
    """One HLS variant; ``playlist`` is relative to the record's ``output_prefix``."""

    name: str
    width: int = 0
    height: int = 0
    bandwidth: int = 0
    codecs: str = ""
    playlist: str


class MediaRecord(BaseModel):
    upload_id: str
    state: MediaState = MediaState.QUEUED
    progress: float = Field(default=0.0, ge=0, le=100, description="Percent done, by decoded duration.")
    reason: str = Field(default="", description="Why the upload failed, or why it was only stored; empty otherwise.")
    kind: str = Field(default="", description="'video' or 'audio' once probed; 'file' when stored.")
    duration: float = 0.0
    master_playlist: str = ""  # relative to output_prefix
    renditions: list[RenditionInfo] = Field(default_factory=list)
    poster: str = ""  # relative to output_prefix
    thumbnails: list[str] = Field(default_factory=list)
    original: str = Field(default="", description="The kept original (encrypted), relative to output_prefix.")
    manifest: str = Field(default="", description="The asset manifest (probe, ladder; encrypted), relative.")
    data_key: dict[str, str] = Field(
        default_factory=dict,
        description="The asset's data key wrapped by a KEK (pipeline.crypto WrappedKey JSON); never in the clear.",
    )
    source_dropped: bool = Field(default=False, description="The plaintext upload was removed from the store.")
    job_id: str = ""
    attempt: str = Field(default="", description="The job attempt that owns the record (its outputs' folder).")
    tries: int = Field(default=0, description="The try that runs (processing) or runs next (retrying).")
    output_prefix: str = Field(default="", description="media/<upload_id>/<attempt>/ of the published outputs.")
    version: int = Field(default=0, description="Bumped by every write; 0 means never stored.")
    updated_at: float = Field(default_factory=time.time)

    def asset_key(self, relative: str) -> str:
        """The storage key of an output named relative to the published prefix."""
        return f"{self.output_prefix}{relative}" if relative else ""

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> MediaRecord:
        return cls.model_validate_json(data)

    def evolve(self, **changes: Any) -> MediaRecord:
        """A copy with ``changes`` and a fresh ``updated_at`` (the version is set by the store)."""
        return self.model_copy(update={**changes, "updated_at": time.time()})


def output_prefix(upload_id: str, attempt: str) -> str:
    """The job-specific folder one attempt writes to; the record switches to it in one update."""
    return f"{MEDIA_PREFIX}{upload_id}/{attempt}/"
