"""The SQL database: what must outlive Redis (users, the catalogue of uploads and who owns them,
processed assets' records with their wrapped data keys). SQLAlchemy 2.0 async, one schema for
SQLite (embedded default) and PostgreSQL (production); migrations with Alembic."""
