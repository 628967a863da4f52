"""The database section of the settings (a leaf module: ``tusd_py.settings`` imports it)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg", "postgres")


class DatabaseSettings(BaseSettings):
    """The SQL database of users, ownership and processed assets."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the database of users, the upload catalogue and asset keys: "
        "postgresql://user:pass@host/db in production (driven by asyncpg), or sqlite:///path. "
        "Empty = a SQLite file app.sqlite3 in TUSD_DATA_DIR.",
    )
    database_pool_size: int = Field(default=10, ge=1, description="Connections kept open to PostgreSQL per process.")
    database_migrate: bool = Field(
        default=True, description="Apply pending migrations at start (else run 'tusd-py db upgrade' first)."
    )

    @field_validator("database_url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and value.split("://", 1)[0] not in _SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in _SCHEMES)} (or be empty)")
        return value
