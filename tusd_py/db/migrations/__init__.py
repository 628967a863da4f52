"""Alembic migrations of the SQL schema (``tusd_py/db/tables.py``), run by ``tusd_py.db.migrate``."""
