"""The file store keeps its small records in one SQLite file (``tusd.sqlite3``): its upload
infos and tombstones (the media records of servers from before the SQL database are there too,
until ``tusd-py db import-records`` or the first start copies them over). The helper lives in the
pipeline library (``pipeline/localdb.py``), because arrows run from the application to the
library and never back; see docs/architecture.md."""

from pipeline.localdb import FILENAME, LocalDB

__all__ = ["FILENAME", "LocalDB"]
