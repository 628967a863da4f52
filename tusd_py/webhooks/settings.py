"""The webhooks section of the settings (a leaf module: ``tusd_py.settings`` imports it)."""

from __future__ import annotations

from functools import cached_property
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 16  # HMAC-SHA256 keys shorter than this are guessable offline from one signed body


class WebhookSettings(BaseSettings):
    """Signed HTTP callbacks for upload and media events (docs/operations.md, "Webhooks")."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    webhook_urls: str = Field(
        default="",
        description="Comma-separated http(s) URLs that receive every event (upload.created, upload.finished, "
        "media.ready, media.failed, media.deleted) as a signed JSON POST; empty = no webhooks.",
    )
    webhook_secret: str = Field(
        default="",
        description=f"HMAC-SHA256 key of the X-Tusd-Signature header (at least {MIN_SECRET_LENGTH} characters); "
        "required with TUSD_WEBHOOK_URLS.",
    )
    webhook_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds one delivery may take (connect, send, answer) before it counts as failed.",
    )
    webhook_max_attempts: int = Field(
        default=10,
        ge=1,
        description="Attempts per event and URL; after the last failed one the delivery is dropped "
        "and logged (webhook_gave_up).",
    )
    webhook_backoff: float = Field(
        default=5.0,
        gt=0,
        description="Seconds before the second attempt; each later wait doubles, up to TUSD_WEBHOOK_BACKOFF_MAX.",
    )
    webhook_backoff_max: float = Field(
        default=3600.0, gt=0, description="Longest wait between two attempts of one delivery, seconds."
    )
    webhook_poll_interval: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between two looks at the outbox for due deliveries (events of the "
        "same process are sent at once).",
    )

    @field_validator("webhook_urls")
    @classmethod
    def _urls(cls, value: str) -> str:
        for url in _split(value):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable() or " " in url:
                raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _secret_with_urls(self) -> Self:
        if self.urls and len(self.webhook_secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"TUSD_WEBHOOK_SECRET: at least {MIN_SECRET_LENGTH} characters are required with TUSD_WEBHOOK_URLS"
            )
        return self

    @cached_property
    def urls(self) -> tuple[str, ...]:
        return _split(self.webhook_urls)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1, 2, ...)."""
        return float(min(self.webhook_backoff * 2.0 ** max(attempts - 1, 0), self.webhook_backoff_max))


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())
