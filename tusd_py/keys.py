"""Every aiohttp AppKey of the server. A leaf module: handlers import keys, never app.py."""

from __future__ import annotations

from aiohttp import web

from .core.observer import Observer
from .core.ports import Store
from .core.service import UploadService
from .ingest import IngestActivity
from .settings import Settings
from .web.admission import Admission

SETTINGS = web.AppKey("tusd_py.settings", Settings)
SERVICE = web.AppKey("tusd_py.service", UploadService)
STORE = web.AppKey("tusd_py.store", Store)
INGEST = web.AppKey("tusd_py.ingest", IngestActivity)  # upload bodies in flight (ingest.py)
ADMISSION = web.AppKey("tusd_py.admission", Admission)  # caps on bodies in flight, streams per client
OBSERVER = web.AppKey("tusd_py.observer", Observer)  # metrics (tusd_py/metrics.py), or no-op
