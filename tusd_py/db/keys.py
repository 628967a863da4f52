"""The database's AppKeys (a leaf: handlers import these, never ``app.py``).

``DATABASE`` is the engine's owner (readiness, shutdown); ``USERS`` the accounts and
``CATALOGUE`` the upload catalogue, for whichever package serves them (auth, the core's quotas,
``GET /media``). Sessions are the auth package's: Redis, or ``SqlSessions`` in the embedded
default, chosen where the auth routes are wired.
"""

from __future__ import annotations

from aiohttp import web

from ..auth.ports import Users
from ..core.catalogue import Catalogue
from .engine import Database

DATABASE = web.AppKey("tusd_py.db.database", Database)
USERS: web.AppKey[Users] = web.AppKey("tusd_py.db.users")  # typed by the port: tests may hand in a fake
CATALOGUE: web.AppKey[Catalogue] = web.AppKey("tusd_py.db.catalogue")
