"""All settings, as one model of sections, read once from ``TUSD_*`` variables.

``Settings()`` reads the environment once; each process takes the sections it needs:
``tusd-py serve`` all of them, ``tusd-py worker`` storage, redis, pipeline, crypto, database,
webhooks and log, ``tusd-py keys`` storage, database and crypto. Every variable is declared in exactly one section
(``TUSD_DATA_DIR`` in ``storage``, ``TUSD_REDIS_URL`` in ``redis``...); a process that needs a
value of another section is handed it by whoever builds it, never reads it again.

Storage, Redis state and logging are declared here; ``ServerSettings`` (HTTP, tus, CORS) in
``server_settings.py``; the sections of accounts, the database, direct uploads and webhooks beside
their packages (``auth/settings.py``...); the pipeline's own (``PipelineSettings``,
``CryptoSettings``) in ``pipeline``, which knows nothing of this module. A new concern is one more
section class and one more field of ``Settings``.

Build once in ``__main__`` (or in a test: ``Settings.from_flat(port=0, store="s3", ...)``) and pass
down; there is no global settings object. Every field has a description: ``docs/configuration.md``
is generated from the same text (``tusd-py config-doc``), so the reference cannot drift from the code.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from pipeline.crypto.settings import CryptoSettings
from pipeline.settings import PipelineSettings

from .auth.settings import AuthSettings, LimitSettings
from .db.settings import DatabaseSettings
from .direct.settings import DirectSettings
from .server_settings import ServerSettings
from .webhooks.settings import WebhookSettings

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
CONFIG_ERRORS = (ValidationError, SettingsError)  # what building a settings model raises for bad TUSD_*


class StorageSettings(BaseSettings):
    """Where uploads (and the pipeline's outputs, records and the embedded key file) live."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    store: Literal["file", "s3", "memory"] = Field(
        default="file", description="Where bytes go: 'file' (embedded default), 's3', or 'memory' (tests only)."
    )
    data_dir: str = Field(default="./data", description="Directory of the file store (and of the embedded key file).")
    disk_reserve: int = Field(
        default=1024**3,
        ge=0,
        description="Bytes of free disk the file store keeps in reserve: a new upload or new bytes that would "
        "eat into it get 507 (what already landed is kept). Also applied to the staging directory. 0 = none.",
    )

    # -- S3 store (TUSD_STORE=s3); credentials come from the usual AWS_* variables ---------------
    s3_bucket: str = Field(default="", description="Bucket that holds uploads (required with TUSD_STORE=s3).")
    s3_prefix: str = Field(default="", description="Key prefix for every object the S3 store writes, e.g. 'uploads/'.")
    s3_endpoint_url: str = Field(default="", description="S3 endpoint for MinIO, R2, moto...; empty = AWS.")
    s3_region: str = Field(default="us-east-1", description="S3 region.")
    s3_path_style: bool = Field(default=False, description="Use path-style addressing (MinIO, moto).")
    s3_part_size: int = Field(
        default=8 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="Preferred multipart part size in bytes (>= 5 MiB). Memory per upload is about "
        "(TUSD_S3_PARTS_IN_FLIGHT + 1) x part size.",
    )
    s3_min_part_size: int = Field(
        default=5 * 1024 * 1024,
        ge=1,
        description="Smallest non-final part S3 accepts; smaller tails are carried forward.",
    )
    s3_max_parts: int = Field(
        default=10_000, ge=1, description="Most parts one multipart upload may have (S3: 10,000)."
    )
    s3_uniform_parts: bool = Field(
        default=False, description="Every non-final part has exactly the same size (Cloudflare R2 requires this)."
    )
    s3_parts_in_flight: int = Field(default=4, ge=1, description="Parts uploaded concurrently for one upload.")
    s3_parts_in_flight_total: int = Field(
        default=16, ge=1, description="Parts uploaded concurrently across the process."
    )

    @model_validator(mode="after")
    def _bucket_with_s3(self) -> Self:
        if self.store == "s3" and not self.s3_bucket:
            raise ValueError("TUSD_S3_BUCKET: required with TUSD_STORE=s3")
        return self


class StateSettings(BaseSettings):
    """Shared state in Redis: upload state, locks, media records and the arq queue."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    redis_url: str = Field(
        default="",
        description="redis://, rediss:// or unix:// URL. Selects Redis state, locks and the arq queue; "
        "empty = in-process state.",
    )
    lock_ttl: float = Field(
        default=10.0, gt=0, description="Seconds a Redis upload lock lives unless renewed (renewed at TTL/2)."
    )
    redis_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to connect to Redis, and for one Redis command to answer; beyond them the "
        "request is 503 (a worker retries), so a Redis that accepts connections but never answers "
        "hangs nothing. Idle connections are checked with a PING after 30 s.",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        return check_redis_url(value)


class LogSettings(BaseSettings):
    """Logging and metrics of every process."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    log_format: Literal["console", "json"] = Field(
        default="console", description="'console' for humans, 'json' for machines."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="debug, info, warning or error (any case); anything else stops the start."
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="tusd-py worker: serve its Prometheus metrics on this port (on TUSD_HOST); 0 = none. "
        "The server always serves its own at GET /metrics.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class Settings(BaseModel):
    """Every section. ``Settings()`` reads each section from ``TUSD_*`` (once); tests and the CLI's
    overrides use ``from_flat``. The crypto section is placed in the storage section's data dir."""

    model_config = ConfigDict(extra="forbid")

    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    redis: StateSettings = Field(default_factory=StateSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    direct: DirectSettings = Field(default_factory=DirectSettings)

    @model_validator(mode="after")
    def _place_keys(self) -> Self:
        # the key file's default home is under TUSD_DATA_DIR, and shared storage (S3) never gets a
        # new key: a key made on one machine would not decrypt what another stored
        self.crypto = self.crypto.placed(self.storage.data_dir, shared_storage=self.storage.store == "s3")
        return self

    @model_validator(mode="after")
    def _direct_needs_s3(self) -> Self:
        if self.direct.direct_uploads and self.storage.store != "s3":
            raise ValueError("TUSD_DIRECT_UPLOADS: clients upload straight to the bucket, so it needs TUSD_STORE=s3")
        return self

    @classmethod
    def sections(cls) -> dict[str, type[BaseSettings]]:
        """Section name -> its class, in the order of the reference."""
        found: dict[str, type[BaseSettings]] = {}
        for name, field in cls.model_fields.items():
            section = field.annotation
            assert isinstance(section, type) and issubclass(section, BaseSettings), name
            found[name] = section
        return found

    @classmethod
    def from_flat(cls, **values: Any) -> Settings:
        """Settings from flat field names (``port=0, store="s3", ladder_heights=(360,)``), each
        routed to the one section that declares it; everything else from ``TUSD_*``.
        An unknown name is a ``TypeError``."""
        grouped: dict[str, dict[str, Any]] = {}
        owner = {field: name for name, section in cls.sections().items() for field in section.model_fields}
        for field, value in values.items():
            if field not in owner:
                raise TypeError(f"no section declares a setting {field!r}")
            grouped.setdefault(owner[field], {})[field] = value
        sections = cls.sections()
        built: dict[str, Any] = {name: sections[name](**fields) for name, fields in grouped.items()}
        return cls(**built)


def check_redis_url(value: str) -> str:
    """TUSD_REDIS_URL: empty (in-process state) or a URL redis-py opens; a typo fails at start."""
    if value and not value.startswith(_REDIS_SCHEMES):
        raise ValueError(f"must start with {', '.join(_REDIS_SCHEMES)} (or be empty for in-process state)")
    return value


def describe_config_error(exc: ValidationError | SettingsError) -> str:
    """One line for the operator naming each bad ``TUSD_`` variable. Never the values: some are secrets."""
    if isinstance(exc, SettingsError):
        return str(exc)
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        cause = error.get("ctx", {}).get("error")
        message = str(cause) if isinstance(cause, Exception) else error["msg"]
        loc = [str(part) for part in error["loc"] if str(part) not in Settings.model_fields]
        field = loc[0] if loc else ""  # a section's field; deeper parts (a list index) do not name a variable
        if field and not message.startswith("TUSD_"):
            message = f"TUSD_{field.upper()}: {message}"
        parts.append(message.replace("\n", " "))
    return "; ".join(parts)
