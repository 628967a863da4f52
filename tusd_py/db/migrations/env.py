"""Alembic's environment. ``tusd_py.db.migrate`` runs it programmatically on a connection it
opened (``config.attributes["connection"]``, a sync facade of an async connection, inside
``run_sync``). The ``alembic`` command line works too, given ``-x url=...`` or
``sqlalchemy.url``: then this module opens its own async engine."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from tusd_py.db.engine import create_engine, resolve_url
from tusd_py.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(resolve_url(url, "."))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    connection: Any = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url") or ""
    if not url:
        raise RuntimeError("no database: pass -x url=postgresql://... (or use `tusd-py db upgrade`)")
    if context.is_offline_mode():
        context.configure(url=resolve_url(url, "."), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_with_own_engine(url))


main()
