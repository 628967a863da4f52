"""Every aiohttp AppKey of the server. A leaf module: handlers import keys, never app.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

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

if TYPE_CHECKING:
    from .web.delivery_ports import MediaVault, OriginalSource, Signer
    from .web.media import MediaStatusSource

# Declared by web/media.py, which imports this module: the type is named for mypy only.
MEDIA: web.AppKey[MediaStatusSource] = web.AppKey("tusd_py.media")
# Delivery (web/delivery.py, web/download.py): ports the pipeline implements, wired by app.py.
VAULT: web.AppKey[MediaVault] = web.AppKey("tusd_py.vault")
ORIGINALS: web.AppKey[OriginalSource] = web.AppKey("tusd_py.originals")
SIGNER: web.AppKey[Signer] = web.AppKey("tusd_py.signer")
