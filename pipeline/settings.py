"""The pipeline's own section (``TUSD_`` prefix): the HLS ladder and how jobs run.

Where sources are read and outputs go (the storage section), the Redis URL and the crypto
section are the application's to hand over when it builds the pipeline; this section never
declares them. Build once and pass down.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    # -- the HLS ladder -------------------------------------------------------------------------
    ladder_heights: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(2160, 1080, 720, 480, 360),
        description="Rendition heights (comma-separated), never above the source; a smaller source gets its own.",
    )
    x264_preset: str = Field(default="veryfast", description="libx264 preset (ultrafast ... veryslow).")
    x264_crf: int = Field(default=23, ge=0, le=51, description="libx264 constant rate factor (lower = better, bigger).")
    segment_seconds: float = Field(default=6.0, gt=0, description="HLS segment length; GOPs are aligned to it.")
    audio_bitrate: int = Field(default=128_000, gt=0, description="AAC bitrate in bits per second.")
    thumbnail_count: int = Field(default=4, ge=0, le=50, description="Evenly spaced thumbnails besides the poster.")

    # -- running jobs ---------------------------------------------------------------------------
    process_workers: int = Field(
        default=1, ge=1, description="Processes in the transcode pool (libx264 already uses every core per job)."
    )
    process_priority: Literal["normal", "low", "idle"] = Field(
        default="low",
        description="CPU priority of the transcode pool: 'low' = nice 10, 'idle' = only spare CPU "
        "(SCHED_IDLE), 'normal' = as the server. Uploads on the same machine stay fast.",
    )
    process_defer_max: float = Field(
        default=2.0,
        ge=0,
        description="Embedded default: a finished upload's processing starts once no upload has been "
        "received for 0.1 s, at most this many seconds after the upload finished, so processing never "
        "slows a burst of uploads (0 = start at once).",
    )
    max_jobs: int = Field(default=2, ge=1, description="Jobs one worker runs at once (I/O overlaps the pool).")
    job_timeout: float = Field(default=3600.0, gt=0, description="Seconds one try of a processing job may take.")
    max_tries: int = Field(default=5, ge=1, description="Tries of a job before it is marked failed.")
    retry_backoff: float = Field(
        default=5.0, ge=0, description="Seconds before the first retry after a transient error; doubles per try."
    )
    retry_backoff_max: float = Field(default=300.0, ge=0, description="Longest wait between two tries, seconds.")
    job_heartbeat: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between two beats of a running job's heartbeat in Redis (it lives 3 beats). "
        "A job whose heartbeat is gone (its worker died) is retried by the next watchdog round, which "
        "every worker runs this often; so a dead worker's job runs again within about 5 beats.",
    )
    work_dir: str = Field(default="", description="Scratch directory for sources and outputs (default: system temp).")

    @field_validator("ladder_heights", mode="before")
    @classmethod
    def _heights(cls, value: Any) -> Any:
        if isinstance(value, str):  # TUSD_LADDER_HEIGHTS=1080,720 (JSON lists work too)
            text = value.strip().strip("[]")
            return tuple(int(part) for part in text.split(",") if part.strip())
        return value

    def backoff(self, job_try: int) -> float:
        """Seconds to wait before try ``job_try + 1``."""
        return float(min(self.retry_backoff * 2 ** max(job_try - 1, 0), self.retry_backoff_max))

    @property
    def heartbeat_ttl(self) -> float:
        """How long a heartbeat lives unless renewed: three beats, so one slow renewal (a busy
        event loop, a Redis failover) is no death."""
        return 3 * self.job_heartbeat
