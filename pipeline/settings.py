"""Settings of the processing pipeline (``tusd-py worker`` and the embedded queue), ``TUSD_`` prefix.

Names shared with the server (``redis_url``, ``store``, ``data_dir``, ``s3_*``) are the same
variables, so one environment configures both processes. Build once and pass down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from tusd_py.settings import Settings


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="ignore")

    # -- shared with the server ---------------------------------------------------------------
    redis_url: str = Field(
        default="", description="redis:// URL. Selects Redis state, locks and the arq queue; empty = in-process state."
    )
    store: Literal["file", "s3", "memory"] = Field(
        default="file", description="Where bytes go: 'file' (embedded default), 's3', or 'memory' (tests only)."
    )
    data_dir: str = Field(default="./data", description="Directory of the file store (and of the embedded key file).")
    s3_bucket: str = Field(default="", description="Bucket that holds uploads (required with TUSD_STORE=s3).")
    s3_prefix: str = Field(default="", description="Key prefix for every object the S3 store writes, e.g. 'uploads/'.")
    s3_endpoint_url: str = Field(default="", description="S3 endpoint for MinIO, R2, moto...; empty = AWS.")
    s3_region: str = Field(default="us-east-1", description="S3 region.")
    s3_path_style: bool = Field(default=False, description="Use path-style addressing (MinIO, moto).")
    log_format: Literal["console", "json"] = Field(
        default="console", description="'console' for humans, 'json' for machines."
    )
    log_level: str = Field(default="info", description="debug, info, warning or error.")

    # -- the HLS ladder -------------------------------------------------------------------------
    ladder_heights: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(1080, 720, 480, 360),
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
    work_dir: str = Field(default="", description="Scratch directory for sources and outputs (default: system temp).")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        from tusd_py.settings import check_redis_url

        return check_redis_url(value)

    @field_validator("ladder_heights", mode="before")
    @classmethod
    def _heights(cls, value: Any) -> Any:
        if isinstance(value, str):  # TUSD_LADDER_HEIGHTS=1080,720 (JSON lists work too)
            text = value.strip().strip("[]")
            return tuple(int(part) for part in text.split(",") if part.strip())
        return value

    @classmethod
    def for_server(cls, server: Settings) -> PipelineSettings:
        """The embedded pipeline: the server's values for the shared fields, the rest from TUSD_*."""
        shared = {name: getattr(server, name) for name in cls.model_fields if name in type(server).model_fields}
        return cls(**shared)

    def backoff(self, job_try: int) -> float:
        """Seconds to wait before try ``job_try + 1``."""
        return float(min(self.retry_backoff * 2 ** max(job_try - 1, 0), self.retry_backoff_max))

    def upload_settings(self) -> Settings:
        """The server's Settings for the shared fields: the worker opens the same upload store."""
        from tusd_py.settings import Settings

        shared = {name: getattr(self, name) for name in Settings.model_fields if name in type(self).model_fields}
        return Settings(**shared)
