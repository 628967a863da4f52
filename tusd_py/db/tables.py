"""The schema, as SQLAlchemy Core tables. The migrations (``migrations/versions``) create exactly
these; ``tests/db/test_migrations.py`` compares the two, so a change here needs a migration.

Times are Unix seconds as floats (``time.time()``), as everywhere else in the server.

``users``               accounts (``tusd_py.auth.ports.User``); the email is unique.
``sessions``            refresh sessions of the embedded default (Redis keeps them in production);
                        they go with their user (ON DELETE CASCADE).
``uploads``             the catalogue: who owns which upload, its name, size and state.
``media_records``       each processed asset's record (``pipeline.contract.MediaRecord`` as JSON,
                        with its wrapped data key) and its compare-and-set version.
``webhook_deliveries``  the outbox of webhook deliveries still to make (written by the webhooks).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Stable constraint and index names, so later migrations can name what they alter on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("jti", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("user_agent", Text, nullable=False, default=""),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("owner", String(255), nullable=False, index=True),
    Column("name", Text, nullable=False, default=""),
    Column("filetype", Text, nullable=False, default=""),
    Column("size", BigInteger, nullable=True),  # None while the length is deferred
    Column("state", String(32), nullable=False),
    Column("is_partial", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index(None, "owner", "created_at"),  # an owner's list, newest first
)

media_records = Table(
    "media_records",
    metadata,
    Column("upload_id", String(255), primary_key=True),
    Column("owner", String(255), nullable=False, default="", index=True),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),  # MediaRecord JSON, its version included
    Column("updated_at", Float, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("last_error", Text, nullable=False, default=""),
)
