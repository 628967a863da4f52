"""The owner a request acts for, as the tus and media handlers pass it to the core.

The auth middleware (``tusd_py/auth``) puts a ``Caller`` on every authenticated request; an
open server (``TUSD_AUTH=none``) has none, and its uploads have the empty owner "".
"""

from __future__ import annotations

from aiohttp import web

from ..auth.ports import CALLER


def owner_of(request: web.Request) -> str:
    caller = request.get(CALLER)
    return caller.user_id if caller is not None else ""
