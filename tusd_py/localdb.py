"""The embedded default keeps its small records in one SQLite file: the file store's upload
infos and tombstones, and the embedded pipeline's media records. The helper lives in the
pipeline library (``pipeline/localdb.py``), because arrows run from the application to the
library and never back; see docs/architecture.md."""

from pipeline.localdb import FILENAME, LocalDB

__all__ = ["FILENAME", "LocalDB"]
