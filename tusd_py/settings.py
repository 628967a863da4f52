"""All settings, as one model of sections, read once from ``TUSD_*`` variables.

``Settings()`` reads the environment once; each process takes the sections it needs:
``tusd-py serve`` all of them, ``tusd-py worker`` storage, redis, pipeline and crypto,
``tusd-py keys`` storage, redis and crypto. Every variable is declared in exactly one section
(``TUSD_DATA_DIR`` in ``storage``, ``TUSD_REDIS_URL`` in ``redis``...); a process that needs a
value of another section is handed it by whoever builds it, never reads it again.

The server's sections live here; the pipeline's own (``PipelineSettings``, ``CryptoSettings``)
live in ``pipeline``, which knows nothing of this module. A new concern (auth, say) is one more
section class and one more field of ``Settings``.

Build once in ``__main__`` (or in a test: ``Settings.from_flat(port=0, store="s3", ...)``) and pass
down; there is no global settings object. Every field has a description: ``docs/configuration.md``
is generated from the same text (``tusd-py config-doc``), so the reference cannot drift from the code.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from pipeline.crypto.settings import CryptoSettings
from pipeline.settings import PipelineSettings

from .auth.settings import AuthSettings, LimitSettings
from .db.settings import DatabaseSettings
from .direct.settings import DirectSettings
from .webhooks.settings import WebhookSettings

DEFAULT_CORS_ALLOW_HEADERS = (
    "Authorization, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, Content-Type, "
    "Upload-Length, Upload-Offset, Tus-Resumable, Upload-Metadata, Upload-Defer-Length, "
    "Upload-Concat, Upload-Checksum, Upload-Complete, Upload-Incomplete, Upload-Draft-Interop-Version"
)
DEFAULT_CORS_EXPOSE_HEADERS = (
    "Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Upload-Defer-Length, "
    "Upload-Concat, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm, "
    "Upload-Complete, Upload-Incomplete, Upload-Limit"
)


DEFAULT_MAX_SIZE = 10 * 1024**3

# RFC 3986 path characters, without '%' (aiohttp would match the decoded path) and '{' '}' (they
# would become route parameters); the delivery routes own /media/, the account routes /auth/.
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
_RESERVED_PATHS = {"/media/": "the routes of processed media", "/auth/": "the account routes"}
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?", re.ASCII)
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
CONFIG_ERRORS = (ValidationError, SettingsError)  # what building a settings model raises for bad TUSD_*


class ServerSettings(BaseSettings):
    """``tusd-py serve``: HTTP, the tus protocol's rules and limits, CORS."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    # -- HTTP -------------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=1080, ge=0, le=65535, description="TCP port to listen on.")
    base_path: str = Field(
        default="/files/",
        description="URL path of the tus creation endpoint; uploads live below it. Plain path segments only "
        "(no '%', '{', '}', '.' or '..' segment), and not under /media/ (processed media) or /auth/ (accounts).",
    )
    public_base_url: str = Field(
        default="",
        description="Fixed http(s)://host[:port] used to build Location URLs (e.g. https://up.example.com); no path.",
    )
    behind_proxy: bool = Field(
        default=False, description="Trust X-Forwarded-Host/-Proto and Forwarded when building Location URLs."
    )
    relative_location: bool = Field(default=False, description="Answer POST with a relative Location (path only).")
    read_timeout: float = Field(
        default=60.0, gt=0, description="Seconds a request body may stay silent before the server keeps what it has."
    )
    enable_download: bool = Field(default=True, description="Serve GET on finished uploads (with Range support).")
    draft_uploads: bool = Field(
        default=True,
        description="Also speak the IETF resumable-upload draft (requests with Upload-Draft-Interop-Version 3 to 8: "
        "Apple URLSession, tus-js-client's ietf-draft protocols) on the tus URLs; off, such requests are tus ones.",
    )

    # -- uploads ----------------------------------------------------------------------------
    max_size: int = Field(
        default=DEFAULT_MAX_SIZE,
        ge=0,
        description="Largest accepted upload in bytes (Tus-Max-Size), 10 GiB by default: a few hours of camera "
        "video, while one client cannot take a small server's disk in one upload. 0 = only the store's own "
        "ceiling (S3: 5 TiB).",
    )
    upload_expiry: float = Field(
        default=86400.0,
        ge=0,
        description="Seconds an unfinished upload lives after its last PATCH (Upload-Expires); 0 disables.",
    )
    sweep_interval: float = Field(
        default=60.0, gt=0, description="Seconds between runs of the expiry/completion sweeper."
    )
    tombstone_ttl: float = Field(
        default=7 * 86400.0, ge=0, description="Seconds a terminated or expired upload answers 410 before it is 404."
    )
    lock_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a request waits for the upload lock before answering 423."
    )
    checksum_max_size: int = Field(
        default=1024**3,
        ge=0,
        description="Largest PATCH body that may carry Upload-Checksum (it is staged first); 413 above.",
    )
    tmp_dir: str = Field(default="", description="Directory for staging checksummed bodies (default: system temp).")
    heap_keep: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Bytes of freed memory the C allocator (glibc) keeps for the next request bodies "
        "instead of returning them to the system at once; returned after 5 s without uploads. "
        "0 = the allocator's defaults (heap.py).",
    )

    # -- limits (docs/operations.md, "Limits") -------------------------------------------------
    concat_max_partials: int = Field(
        default=1000,
        ge=1,
        description="Most partial uploads one final upload (Upload-Concat: final) may list, each of them once; "
        "400 ERR_INVALID_CONCAT above, or for a partial listed twice, before anything is created.",
    )
    max_connections: int = Field(
        default=1024,
        ge=0,
        description="Open client connections at once; a connection beyond it is answered 503 with Retry-After "
        "and closed. 0 = no limit.",
    )
    max_uploads_in_flight: int = Field(
        default=256,
        ge=0,
        description="PATCH and POST requests receiving upload bodies at once; beyond it 503 with Retry-After "
        "before any byte is read. 0 = no limit.",
    )
    retry_after: int = Field(
        default=5,
        ge=1,
        description="Seconds in the Retry-After header of the 503 and 429 answers of these limits (including "
        "the one a connection beyond TUSD_MAX_CONNECTIONS gets).",
    )
    staging_memory: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes of RAM, across all requests, for staging checksummed bodies (each takes at most "
        "8 MiB of it); what does not fit is staged in a file under TUSD_TMP_DIR.",
    )
    min_body_rate: int = Field(
        default=1024,
        ge=0,
        description="Bytes a request body must deliver per TUSD_BODY_RATE_WINDOW; a slower body is ended "
        "there, keeping what arrived (the client resumes from HEAD). 0 = no minimum.",
    )
    body_rate_window: float = Field(
        default=30.0,
        gt=0,
        description="Seconds over which TUSD_MIN_BODY_RATE is measured (also the grace at the start).",
    )
    sse_max_lifetime: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds an event stream (/media/{id}/events) stays open; the browser's EventSource then "
        "reconnects.",
    )
    sse_per_client: int = Field(
        default=8,
        ge=1,
        description="Event streams open at once per client address (the last X-Forwarded-For entry with "
        "TUSD_BEHIND_PROXY); 429 with Retry-After beyond it.",
    )

    # -- CORS -------------------------------------------------------------------------------
    cors_allow_origins: str = Field(
        default="*",
        description="Comma-separated allowed origins (scheme://host[:port], no trailing slash), '*' for any. "
        "Others get 403 ERR_ORIGIN_NOT_ALLOWED.",
    )
    cors_allow_credentials: bool = Field(
        default=False,
        description="Send Access-Control-Allow-Credentials: true, to origins listed by name only; refused at "
        "start while TUSD_CORS_ALLOW_ORIGINS contains '*' or 'null'.",
    )
    cors_allow_headers: str = Field(default=DEFAULT_CORS_ALLOW_HEADERS, description="Access-Control-Allow-Headers.")
    cors_expose_headers: str = Field(default=DEFAULT_CORS_EXPOSE_HEADERS, description="Access-Control-Expose-Headers.")
    cors_max_age: int = Field(default=86400, ge=0, description="Access-Control-Max-Age of preflight answers, seconds.")

    @field_validator("base_path")
    @classmethod
    def _slashes(cls, value: str) -> str:
        segments = value.strip("/").split("/") if value.strip("/") else []
        for part in segments:
            if not _PATH_SEGMENT.fullmatch(part) or part in (".", ".."):
                raise ValueError(
                    f"{value!r} is not a plain URL path: use letters, digits and - . _ ~ between slashes, "
                    "no empty, '.' or '..' segment, no '%', '{', '}', '?', '#' or whitespace"
                )
        path = "/" + "/".join(segments) + "/" if segments else "/"
        for reserved, owner in _RESERVED_PATHS.items():
            if path.startswith(reserved):
                raise ValueError(f"{path!r} would hide {owner} under {reserved}")
        return path

    @field_validator("public_base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if value and not _is_base_url(value):  # a path would move Location away from TUSD_BASE_PATH
            raise ValueError(f"must be an absolute http(s)://host[:port] URL with no path, got {value!r}")
        return value

    @model_validator(mode="after")
    def _cors_is_safe(self) -> Self:
        """Combinations no deployment can want; each message names the variable to change."""
        origins = self.allowed_origins
        for origin in origins:
            if origin not in ("*", "null") and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"TUSD_CORS_ALLOW_ORIGINS: {origin!r} is not an origin: '*' or scheme://host[:port], "
                    "no path and no trailing slash (browsers send the Origin header without one)"
                )
        if self.cors_allow_credentials and "*" in origins:
            raise ValueError(
                "TUSD_CORS_ALLOW_CREDENTIALS: cannot be true while TUSD_CORS_ALLOW_ORIGINS allows any origin ('*')"
            )
        if self.cors_allow_credentials and "null" in origins:
            raise ValueError(
                "TUSD_CORS_ALLOW_CREDENTIALS: cannot be true while TUSD_CORS_ALLOW_ORIGINS allows 'null' "
                "(any sandboxed page or local file sends it)"
            )
        return self

    @cached_property
    def allowed_origins(self) -> tuple[str, ...]:
        """Parsed once: every browser request (each PATCH of an Uppy upload) asks it, twice."""
        return tuple(o.strip() for o in self.cors_allow_origins.split(",") if o.strip())


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


def _is_base_url(value: str) -> bool:
    if not value.isprintable() or " " in value:
        return False
    parts = urlsplit(value)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number, or out of range
        return False
    return (
        port_ok
        and parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.username is None
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    )


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
