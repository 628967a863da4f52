"""The database's AppKey (a leaf: handlers import it, never ``app.py``).

``DATABASE`` owns the engine (readiness, shutdown); the repositories on it reach their users
through their own packages' keys: the accounts as ``tusd_py.auth.keys.USERS``, the catalogue
as ``UploadService.catalogue``.
"""

from __future__ import annotations

from aiohttp import web

from .engine import Database

DATABASE = web.AppKey("tusd_py.db.database", Database)
