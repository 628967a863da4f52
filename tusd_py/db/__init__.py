"""The SQL database: what must outlive Redis (users, the catalogue of uploads and who owns them,
processed assets' records with their wrapped data keys, the webhook outbox). SQLAlchemy 2.0 async,
one schema for SQLite (embedded default) and PostgreSQL (production); migrations with Alembic.

``engine.py``      the URL, the async engine, ``Database`` (readiness, shutdown) and the mapping
                   of the driver's transient errors to the caller's ``StorageUnavailable``.
``tables.py``      the schema as Core tables; ``migrations/`` creates exactly it (``migrate.py``).
``users.py``       ``SqlUsers`` (``tusd_py.auth.ports.Users``).
``sessions.py``    ``SqlSessions`` (``tusd_py.auth.ports.Sessions``), for the embedded default.
``catalogue.py``   ``SqlCatalogue`` (``tusd_py.core.catalogue.Catalogue``).
``records.py``     ``SqlMediaRecords`` (``pipeline.records.MediaRecords``) and its notifiers.
``admin.py``       ``tusd-py db``, and what a server does at start besides migrating.
``keys.py``        the ``DATABASE`` AppKey.
"""
