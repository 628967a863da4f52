"""``ServerSettings``: the section of ``tusd-py serve`` (HTTP, the tus protocol's rules and limits,
CORS) and the validators that refuse, at start, a base path, public URL or CORS policy no
deployment can want. ``tusd_py.settings.Settings`` holds it as its ``server`` section."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
