"""Every aiohttp AppKey of the server. A leaf module: handlers import keys, never app.py."""

from __future__ import annotations

from aiohttp import web

from .core.ports import Store
from .core.service import UploadService
from .settings import Settings

SETTINGS = web.AppKey("tusd_py.settings", Settings)
SERVICE = web.AppKey("tusd_py.service", UploadService)
STORE = web.AppKey("tusd_py.store", Store)
